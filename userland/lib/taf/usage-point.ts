/** The common frame of both documents: UsagePoints root, one UsagePoint, and its header fields. */
import { TafError } from "./errors.ts";
import type { UsagePointHeader } from "./model.ts";
import type { ElementReader, XmlElement } from "./xml.ts";

export function singleUsagePoint(r: ElementReader, root: XmlElement, documentName: string) {
  if (root.name !== "UsagePoints") {
    throw new TafError(
      "WRONG_DOCUMENT",
      r.phase,
      `root element is "${root.name}", expected "UsagePoints" of an ${documentName} document`,
      root.path,
    );
  }
  const usagePoints = r.all(root, "UsagePoint");
  if (usagePoints.length !== 1) {
    throw new TafError(
      usagePoints.length === 0 ? "MISSING_ELEMENT" : "DUPLICATE_ELEMENT",
      r.phase,
      `UsagePoints: exactly one UsagePoint is supported, found ${usagePoints.length}`,
      "UsagePoints/UsagePoint",
    );
  }
  return usagePoints[0] as XmlElement;
}

export function readHeader(r: ElementReader, usagePoint: XmlElement): UsagePointHeader {
  const serviceCategory = r.optional(usagePoint, "ServiceCategory");
  const customer = r.optional(usagePoint, "Customer");
  const invoicingParty = r.optional(usagePoint, "InvoicingParty");
  const smgw = r.optional(usagePoint, "SMGW");
  return {
    usagePointId: r.optionalText(usagePoint, "usagePointId"),
    tariffName: r.optionalText(usagePoint, "tariffName"),
    serviceCategoryKind:
      serviceCategory === undefined
        ? undefined
        : r.optionalInteger(serviceCategory, "kind", 0, 255),
    customerId: customer === undefined ? undefined : r.optionalText(customer, "customerId"),
    invoicingPartyId:
      invoicingParty === undefined ? undefined : r.optionalText(invoicingParty, "invoicingPartyId"),
    smgwId: smgw === undefined ? undefined : r.optionalText(smgw, "smgwId"),
  };
}
