import {
  durationMeaning,
  LONG_TIME_UNITS,
  numberMeaning,
  otherMeaning,
  TIME_UNITS,
  type ValueMeaning,
} from "./meaning.ts";

const FD_NAMED = new Map<number, ValueMeaning>([
  [0x08, otherMeaning("access number", "count")],
  [0x09, otherMeaning("device type", "binary")],
  [0x0a, otherMeaning("manufacturer", "binary")],
  [0x0b, otherMeaning("parameter set identification", "identifier")],
  [0x0c, otherMeaning("model/version", "identifier")],
  [0x0d, otherMeaning("hardware version", "identifier")],
  [0x0e, otherMeaning("firmware version", "identifier")],
  [0x0f, otherMeaning("other software version", "identifier")],
  [0x10, otherMeaning("customer location", "identifier")],
  [0x11, otherMeaning("customer", "identifier")],
  [0x12, otherMeaning("access code user", "identifier")],
  [0x13, otherMeaning("access code operator", "identifier")],
  [0x14, otherMeaning("access code system operator", "identifier")],
  [0x15, otherMeaning("access code developer", "identifier")],
  [0x16, otherMeaning("password", "identifier")],
  [0x17, otherMeaning("error flags", "binary")],
  [0x18, otherMeaning("error mask", "binary")],
  [0x19, otherMeaning("security key", "opaque")],
  [0x1a, otherMeaning("digital output", "binary")],
  [0x1b, otherMeaning("digital input", "binary")],
  [0x1c, numberMeaning("baud rate", "Bd")],
  [0x1d, numberMeaning("response delay time", "bit times")],
  [0x1e, otherMeaning("retry", "count")],
  [0x1f, otherMeaning("remote control", "binary")],
  [0x20, otherMeaning("first storage number for cyclic storage", "count")],
  [0x21, otherMeaning("last storage number for cyclic storage", "count")],
  [0x22, otherMeaning("size of storage block", "count")],
  [0x23, otherMeaning("descriptor for tariff and subunit", "binary")],
  [0x28, durationMeaning("storage interval", "month")],
  [0x29, durationMeaning("storage interval", "year")],
  [0x2a, otherMeaning("operator specific data", "opaque")],
  [0x2b, numberMeaning("time point second", "s")],
  [0x30, otherMeaning("start of tariff", "time-point")],
  [0x38, durationMeaning("period of tariff", "month")],
  [0x39, durationMeaning("period of tariff", "year")],
  [0x3a, numberMeaning("dimensionless", "")],
  [0x3b, otherMeaning("data container for wireless M-Bus", "opaque")],
  [0x60, otherMeaning("reset counter", "count")],
  [0x61, otherMeaning("cumulation counter", "count")],
  [0x62, otherMeaning("control signal", "binary")],
  [0x63, otherMeaning("day of week", "count")],
  [0x64, otherMeaning("week number", "count")],
  [0x65, otherMeaning("time point of day change", "binary")],
  [0x66, otherMeaning("state of parameter activation", "binary")],
  [0x67, otherMeaning("special supplier information", "opaque")],
  [0x70, otherMeaning("date and time of battery change", "time-point")],
  [0x71, numberMeaning("RF level", "dBm")],
  [0x72, otherMeaning("daylight saving (type K)", "opaque")],
  [0x73, otherMeaning("listening window management (type L)", "opaque")],
  [0x74, durationMeaning("remaining battery life time", "d")],
  [0x75, otherMeaning("number of times the meter was stopped", "count")],
  [0x76, otherMeaning("data container for manufacturer specific protocol", "opaque")],
]);

/** Main VIFE code extension table (true VIF after 0xFD), code without the extension bit. */
export function fdMeaning(code: number): ValueMeaning {
  const named = FD_NAMED.get(code);
  if (named) return named;
  const n2 = code & 0x03;
  if (code <= 0x03) return numberMeaning("credit", "currency units", n2 - 3);
  if (code <= 0x07) return numberMeaning("debit", "currency units", n2 - 3);
  if (code >= 0x24 && code <= 0x27)
    return durationMeaning("storage interval", TIME_UNITS[n2] as string);
  if (code >= 0x2c && code <= 0x2f) {
    return durationMeaning("duration since last readout", TIME_UNITS[n2] as string);
  }
  // 0x30 is the start of tariff (named above); 0x31-0x33: minutes, hours, days.
  if (code >= 0x31 && code <= 0x33)
    return durationMeaning("duration of tariff", TIME_UNITS[n2] as string);
  if (code >= 0x34 && code <= 0x37)
    return durationMeaning("period of tariff", TIME_UNITS[n2] as string);
  if (code >= 0x3c && code <= 0x3f) {
    return durationMeaning("period of nominal data transmissions", TIME_UNITS[n2] as string);
  }
  if (code >= 0x40 && code <= 0x4f) return numberMeaning("voltage", "V", (code & 0x0f) - 9);
  if (code >= 0x50 && code <= 0x5f) return numberMeaning("current", "A", (code & 0x0f) - 12);
  if (code >= 0x68 && code <= 0x6b) {
    return durationMeaning("duration since last cumulation", LONG_TIME_UNITS[n2] as string);
  }
  if (code >= 0x6c && code <= 0x6f) {
    return durationMeaning("operating time battery", LONG_TIME_UNITS[n2] as string);
  }
  return otherMeaning(
    `reserved FD 0x${code.toString(16).toUpperCase().padStart(2, "0")}`,
    "opaque",
  );
}
