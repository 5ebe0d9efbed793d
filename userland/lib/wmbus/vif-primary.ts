import {
  durationMeaning,
  J_PER_H_TO_KW,
  J_TO_KWH,
  numberMeaning,
  otherMeaning,
  PER_MIN_TO_PER_H,
  PER_S_TO_PER_H,
  TIME_UNITS,
  type ValueMeaning,
  W_TO_KW,
  WH_TO_KWH,
} from "./meaning.ts";

/**
 * Primary VIF table (EN 13757-3), code = VIF without the extension bit.
 * 0x7B, 0x7C, 0x7D, 0x7F are handled by the VIB parser (extension tables, plain text,
 * manufacturer specific) and never reach this function.
 */
export function primaryMeaning(code: number): ValueMeaning {
  const n3 = code & 0x07;
  const n2 = code & 0x03;
  if (code <= 0x07) return numberMeaning("energy", "kWh", n3 - 3, WH_TO_KWH);
  if (code <= 0x0f) return numberMeaning("energy", "kWh", n3, J_TO_KWH);
  if (code <= 0x17) return numberMeaning("volume", "m³", n3 - 6);
  if (code <= 0x1f) return numberMeaning("mass", "kg", n3 - 3);
  if (code <= 0x23) return durationMeaning("on time", TIME_UNITS[n2] as string);
  if (code <= 0x27) return durationMeaning("operating time", TIME_UNITS[n2] as string);
  if (code <= 0x2f) return numberMeaning("power", "kW", n3 - 3, W_TO_KW);
  if (code <= 0x37) return numberMeaning("power", "kW", n3, J_PER_H_TO_KW);
  if (code <= 0x3f) return numberMeaning("volume flow", "m³/h", n3 - 6);
  if (code <= 0x47) return numberMeaning("volume flow", "m³/h", n3 - 7, PER_MIN_TO_PER_H);
  if (code <= 0x4f) return numberMeaning("volume flow", "m³/h", n3 - 9, PER_S_TO_PER_H);
  if (code <= 0x57) return numberMeaning("mass flow", "kg/h", n3 - 3);
  if (code <= 0x5b) return numberMeaning("flow temperature", "°C", n2 - 3);
  if (code <= 0x5f) return numberMeaning("return temperature", "°C", n2 - 3);
  if (code <= 0x63) return numberMeaning("temperature difference", "K", n2 - 3);
  if (code <= 0x67) return numberMeaning("external temperature", "°C", n2 - 3);
  if (code <= 0x6b) return numberMeaning("pressure", "bar", n2 - 3);
  if (code === 0x6c) return otherMeaning("date", "time-point");
  if (code === 0x6d) return otherMeaning("date and time", "time-point");
  if (code === 0x6e) return numberMeaning("heat cost allocation", "HCA");
  if (code === 0x6f) return otherMeaning("reserved VIF 0x6F", "opaque");
  if (code <= 0x73) return durationMeaning("averaging duration", TIME_UNITS[n2] as string);
  if (code <= 0x77) return durationMeaning("actuality duration", TIME_UNITS[n2] as string);
  if (code === 0x78) return otherMeaning("fabrication number", "identifier");
  if (code === 0x79) return otherMeaning("enhanced identification", "identifier");
  if (code === 0x7a) return otherMeaning("bus address", "identifier");
  if (code === 0x7e) return otherMeaning("any VIF", "opaque");
  return otherMeaning(`VIF 0x${code.toString(16).toUpperCase()}`, "opaque");
}
