/**
 * What a VIF says about the data. Numbers are converted to one canonical unit per quantity:
 *   canonical = raw × 10^(exponent + unitExponent) × multiplier / divisor + offset
 * `exponent` is the VIF resolution in the VIF's own unit (e.g. 10^(n-3) Wh);
 * `unitExponent`, `multiplier`, `divisor`, `offset` convert that unit to the canonical one
 * (e.g. Wh → kWh: unitExponent -3).
 */
export interface ValueMeaning {
  quantity: string;
  unit: string;
  kind: ValueKind;
  exponent: number;
  unitExponent: number;
  multiplier: number;
  divisor: number;
  offset: number;
}

export type ValueKind =
  | "number" // scaled by exponent etc.
  | "time-point" // date / date-time, type G/F/I/J chosen by the data size
  | "identifier" // BCD digits or hex digits as a string
  | "binary" // bit field: unsigned integer, not scaled
  | "count" // counter: unsigned integer, not scaled
  | "opaque"; // kept as hex

export function numberMeaning(
  quantity: string,
  unit: string,
  exponent = 0,
  conversion: Partial<
    Pick<ValueMeaning, "unitExponent" | "multiplier" | "divisor" | "offset">
  > = {},
): ValueMeaning {
  return {
    quantity,
    unit,
    kind: "number",
    exponent,
    unitExponent: conversion.unitExponent ?? 0,
    multiplier: conversion.multiplier ?? 1,
    divisor: conversion.divisor ?? 1,
    offset: conversion.offset ?? 0,
  };
}

export function otherMeaning(
  quantity: string,
  kind: Exclude<ValueKind, "number">,
  unit = "",
): ValueMeaning {
  return {
    quantity,
    unit,
    kind,
    exponent: 0,
    unitExponent: 0,
    multiplier: 1,
    divisor: 1,
    offset: 0,
  };
}

export const TIME_UNITS = ["s", "min", "h", "d"] as const;
/** Units of the "pp" coded durations (hour, day, month, year). */
export const LONG_TIME_UNITS = ["h", "d", "month", "year"] as const;

export function durationMeaning(quantity: string, unit: string): ValueMeaning {
  return numberMeaning(quantity, unit);
}

// Conversions to the canonical units.
export const WH_TO_KWH = { unitExponent: -3 };
export const J_TO_KWH = { divisor: 3_600_000 };
export const W_TO_KW = { unitExponent: -3 };
export const J_PER_H_TO_KW = { divisor: 3_600_000 };
export const PER_MIN_TO_PER_H = { multiplier: 60 };
export const PER_S_TO_PER_H = { multiplier: 3600 };
