/** Billing registers and the result shape shared by TAF1 and TAF2. */
import { TafError } from "./errors.ts";
import type { TariffStage } from "./model.ts";
import { formatObis, type Obis, withE } from "./obis.ts";
import { formatBerlin, type Timestamp } from "./time.ts";

/** Tariff id of the error register *.8.63 (consumption that no tariff stage may take). */
export const ERROR_TARIFF_ID = 63;

export interface Register {
  readonly obis: Obis;
  readonly tariffId: number;
  amount: number;
}

export interface RegisterResult {
  /** Decimal OBIS, e.g. "1-0:1.8.1*255". */
  readonly obis: string;
  readonly tariffId: number;
  /** In the raw units of the readings' values (the ReadingType scaler is not applied). */
  readonly amount: number;
}

export interface BillingResult {
  readonly tariffUseCase: 1 | 2;
  /** Begin and end of the calculated period, as Berlin local time with offset. */
  readonly begin: string;
  readonly end: string;
  readonly registers: readonly RegisterResult[];
}

/** One register per tariff stage, in the supplier's order. */
export function stageRegisters(stages: readonly TariffStage[]): Register[] {
  return stages.map((s) => ({ obis: s.obis, tariffId: s.tariffNumber, amount: 0 }));
}

/**
 * TAF2 registers: the tariff stages, then error registers (E = 63, tariff id 63). If the
 * supplier lists error registers itself, only those are used. Otherwise one is added for the
 * first import stage (C = 1), one for the first export stage (C = 2), and for other quantities
 * TRuDI's rule: a stage with C > n adds one, where n starts at 2 and grows with each one added.
 */
export function taf2Registers(stages: readonly TariffStage[]): Register[] {
  const registers = stageRegisters(stages);
  const given = registers.filter((r) => r.obis.e === ERROR_TARIFF_ID);
  if (given.length > 0) {
    return registers.map((r) =>
      r.obis.e === ERROR_TARIFF_ID ? { ...r, tariffId: ERROR_TARIFF_ID } : r,
    );
  }
  let importAdded = false;
  let exportAdded = false;
  let next = 2;
  const added: Register[] = [];
  for (const r of registers) {
    const error = { obis: withE(r.obis, ERROR_TARIFF_ID), tariffId: ERROR_TARIFF_ID, amount: 0 };
    if (!importAdded && r.obis.c === 1) {
      added.push(error);
      importAdded = true;
    } else if (!exportAdded && r.obis.c === 2) {
      added.push(error);
      exportAdded = true;
    } else if (r.obis.c !== 1 && r.obis.c !== 2 && r.obis.c > next) {
      added.push(error);
      next++;
    }
  }
  return [...registers, ...added];
}

/** Index of the register that takes a tariff's amounts for a measured quantity (OBIS C). */
export function registerIndexFor(
  registers: readonly Register[],
  tariffId: number,
  c: number,
): number {
  const index = registers.findIndex((r) => r.tariffId === tariffId && r.obis.c === c);
  if (index < 0) {
    throw new TafError(
      "NO_REGISTER_FOR_TARIFF",
      "calculate",
      `no register for tariff ${tariffId} of measured quantity C=${c}`,
    );
  }
  return index;
}

export function toResult(
  tariffUseCase: 1 | 2,
  begin: Timestamp,
  end: Timestamp,
  registers: readonly Register[],
): BillingResult {
  return {
    tariffUseCase,
    begin: formatBerlin(begin.instant),
    end: formatBerlin(end.instant),
    registers: registers.map((r) => {
      if (!Number.isSafeInteger(r.amount)) {
        throw new TafError(
          "AMOUNT_OUT_OF_RANGE",
          "calculate",
          `register ${formatObis(r.obis)} overflows: the readings' values are out of range`,
        );
      }
      return { obis: formatObis(r.obis), tariffId: r.tariffId, amount: r.amount };
    }),
  };
}
