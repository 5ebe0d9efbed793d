/** Reader for the supplier's tariff document (IF_Lieferant_TRuDI). */
import { readAnalysisProfile } from "./analysis-profile.ts";
import type { SupplierDocument } from "./model.ts";
import { readHeader, singleUsagePoint } from "./usage-point.ts";
import { ElementReader, type ReadXmlOptions, readXml } from "./xml.ts";

export function parseSupplier(
  input: string | Uint8Array,
  options: ReadXmlOptions = {},
): SupplierDocument {
  const r = new ElementReader("parse-supplier");
  const root = readXml(input, r.phase, options);
  const usagePoint = singleUsagePoint(r, root, "IF_Lieferant_TRuDI");
  const analysisProfile = readAnalysisProfile(r, r.required(usagePoint, "AnalysisProfile"));
  return { ...readHeader(r, usagePoint), analysisProfile };
}
