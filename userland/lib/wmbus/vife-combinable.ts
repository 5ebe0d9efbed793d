import { TIME_UNITS } from "./meaning.ts";

/** Effect of one combinable (orthogonal) VIFE, EN 13757-3; code without the extension bit. */
export interface VifeEffect {
  annotation: string;
  /** Multiplicative correction: added to the decimal exponent. */
  exponentDelta?: number;
  /** Additive correction constant 10^x in the unit of the VIF. */
  additiveExponent?: number;
  /** Appended to the unit ("/h", "·s"). */
  unitSuffix?: string;
  /** The value is no longer the VIF quantity but a point in time, a duration or a count. */
  becomes?: "time-point" | "count" | { durationUnit: string };
  /** 0x7F: the following VIFEs and the data are manufacturer specific. */
  manufacturerFollows?: boolean;
  /** 0x7C: the next VIFE is a code of the combinable extension table. */
  extensionFollows?: boolean;
  /** Compact profiles: the data is a packed series, kept as hex. */
  opaqueData?: boolean;
}

const RECORD_ERRORS = new Map<number, string>([
  [0x00, "no error"],
  [0x01, "too many DIFEs"],
  [0x02, "storage number not implemented"],
  [0x03, "unit number not implemented"],
  [0x04, "tariff number not implemented"],
  [0x05, "function not implemented"],
  [0x06, "data class not implemented"],
  [0x07, "data size not implemented"],
  [0x0b, "too many VIFEs"],
  [0x0c, "illegal VIF-group"],
  [0x0d, "illegal VIF-exponent"],
  [0x0e, "VIF/DIF mismatch"],
  [0x0f, "unimplemented action"],
  [0x15, "no data available (undefined value)"],
  [0x16, "data overflow"],
  [0x17, "data underflow"],
  [0x18, "data error"],
]);

const PER_UNIT = new Map<number, [string, string]>([
  [0x20, ["per second", "/s"]],
  [0x21, ["per minute", "/min"]],
  [0x22, ["per hour", "/h"]],
  [0x23, ["per day", "/d"]],
  [0x24, ["per week", "/week"]],
  [0x25, ["per month", "/month"]],
  [0x26, ["per year", "/year"]],
  [0x27, ["per revolution/measurement", "/rev"]],
  [0x2c, ["per litre", "/l"]],
  [0x2d, ["per m³", "/m³"]],
  [0x2e, ["per kg", "/kg"]],
  [0x2f, ["per K", "/K"]],
  [0x30, ["per kWh", "/kWh"]],
  [0x31, ["per GJ", "/GJ"]],
  [0x32, ["per kW", "/kW"]],
  [0x33, ["per K·l", "/(K·l)"]],
  [0x34, ["per V", "/V"]],
  [0x35, ["per A", "/A"]],
  [0x36, ["multiplied by s", "·s"]],
  [0x37, ["multiplied by s/V", "·s/V"]],
  [0x38, ["multiplied by s/A", "·s/A"]],
]);

const PLAIN = new Map<number, string>([
  [0x1c, "standard conform data content"],
  [0x3a, "uncorrected unit (value at metering conditions)"],
  [0x3b, "accumulation only of positive contributions (forward flow)"],
  [0x3c, "accumulation of absolute value only of negative contributions (backward flow)"],
  [0x3d, "alternate non-metric unit system"],
  [0x3e, "value at base conditions"],
  [0x3f, "OBIS declaration"],
  [0x69, "leakage values"],
  [0x6d, "overflow values"],
  [0x7e, "future value"],
]);

export function combinableVife(code: number): VifeEffect {
  const per = PER_UNIT.get(code);
  if (per) return { annotation: per[0], unitSuffix: per[1] };
  const plain = PLAIN.get(code);
  if (plain) return { annotation: plain };
  if (code === 0x13) return { annotation: "inverse compact profile", opaqueData: true };
  if (code === 0x1e) return { annotation: "compact profile with registers", opaqueData: true };
  if (code === 0x1f) return { annotation: "compact profile without registers", opaqueData: true };
  if (code <= 0x1f) {
    const error = RECORD_ERRORS.get(code) ?? `reserved record error code 0x${hex(code)}`;
    return { annotation: `record error: ${error}` };
  }
  if (code === 0x28 || code === 0x29) {
    return { annotation: `increment per input pulse on input channel ${code & 1}` };
  }
  if (code === 0x2a || code === 0x2b) {
    return { annotation: `increment per output pulse on output channel ${code & 1}` };
  }
  if (code === 0x39) return { annotation: "start date(/time) of", becomes: "time-point" };
  if (code >= 0x40 && code <= 0x4f) return limitVife(code);
  if (code >= 0x50 && code <= 0x5f) {
    const limit = code & 0x08 ? "upper" : "lower";
    const which = code & 0x04 ? "last" : "first";
    return {
      annotation: `duration of ${which} ${limit} limit exceed`,
      becomes: { durationUnit: TIME_UNITS[code & 0x03] as string },
    };
  }
  if (code >= 0x60 && code <= 0x67) {
    const which = code & 0x04 ? "last" : "first";
    return {
      annotation: `duration of ${which}`,
      becomes: { durationUnit: TIME_UNITS[code & 0x03] as string },
    };
  }
  if (code === 0x68 || code === 0x6c) {
    return { annotation: `value during ${code & 0x04 ? "upper" : "lower"} limit exceed` };
  }
  if (code === 0x6a || code === 0x6b || code === 0x6e || code === 0x6f) {
    const which = code & 0x04 ? "last" : "first";
    const edge = code & 0x01 ? "end" : "begin";
    return { annotation: `date(/time) of ${which} ${edge}`, becomes: "time-point" };
  }
  if (code >= 0x70 && code <= 0x77) {
    const exponent = (code & 0x07) - 6;
    return {
      annotation: `multiplicative correction factor 10^${exponent}`,
      exponentDelta: exponent,
    };
  }
  if (code >= 0x78 && code <= 0x7b) {
    const exponent = (code & 0x03) - 3;
    return {
      annotation: `additive correction constant 10^${exponent}`,
      additiveExponent: exponent,
    };
  }
  if (code === 0x7c) return { annotation: "extension of combinable VIFE", extensionFollows: true };
  if (code === 0x7d)
    return { annotation: "multiplicative correction factor 10^3", exponentDelta: 3 };
  if (code === 0x7f) {
    return { annotation: "manufacturer specific VIFEs follow", manufacturerFollows: true };
  }
  return { annotation: `reserved VIFE 0x${hex(code)}` };
}

function limitVife(code: number): VifeEffect {
  const limit = code & 0x08 ? "upper" : "lower";
  const low = code & 0x07;
  if (low === 0) return { annotation: `${limit} limit value` };
  if (low === 1) return { annotation: `number of exceeds of ${limit} limit`, becomes: "count" };
  if (code & 0x02) {
    const which = code & 0x04 ? "last" : "first";
    const edge = code & 0x01 ? "end" : "begin";
    return {
      annotation: `date(/time) of ${edge} of ${which} ${limit} limit exceed`,
      becomes: "time-point",
    };
  }
  return { annotation: `reserved VIFE 0x${hex(code)}` };
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, "0");
}
