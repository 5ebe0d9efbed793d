/** Entry point of the engine: chooses TAF1 or TAF2 from the supplier's tariff use case. */
import { TafError } from "./errors.ts";
import { parseMeterData } from "./meter-data.ts";
import type { MeterDataDocument, SupplierDocument } from "./model.ts";
import type { BillingResult } from "./registers.ts";
import { parseSupplier } from "./supplier.ts";
import { calculateTaf1 } from "./taf1.ts";
import { calculateTaf2 } from "./taf2.ts";
import type { ReadXmlOptions } from "./xml.ts";

/**
 * Calculates the billing registers. The tariff use case is the supplier's
 * AnalysisProfile/tariffUseCase: the supplier's tariff decides how the meter data is billed
 * (a meter-data AnalysisProfile, if present, describes the gateway's configuration and may differ).
 */
export function calculateBilling(
  meterData: MeterDataDocument,
  supplier: SupplierDocument,
): BillingResult {
  const useCase = supplier.analysisProfile.tariffUseCase;
  if (useCase === 1) return calculateTaf1(meterData, supplier);
  if (useCase === 2) return calculateTaf2(meterData, supplier);
  throw new TafError(
    "UNSUPPORTED_TARIFF_USE_CASE",
    "calculate",
    `tariff use case ${useCase} is not supported; only TAF1 and TAF2 are`,
  );
}

/** Parses both documents (meter data first, as TRuDI does) and calculates the registers. */
export function billDocuments(
  meterDataXml: string | Uint8Array,
  supplierXml: string | Uint8Array,
  options: ReadXmlOptions = {},
): BillingResult {
  const meterData = parseMeterData(meterDataXml, options);
  const supplier = parseSupplier(supplierXml, options);
  return calculateBilling(meterData, supplier);
}
