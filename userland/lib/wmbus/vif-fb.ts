import { numberMeaning, otherMeaning, type ValueMeaning, W_TO_KW } from "./meaning.ts";

const FEET3_TO_M3 = { multiplier: 0.028316846592 };
/** °F → °C: (F − 32) × 5/9. */
const FAHRENHEIT_TO_CELSIUS = { multiplier: 5, divisor: 9, offset: -160 / 9 };
const FAHRENHEIT_DIFFERENCE_TO_KELVIN = { multiplier: 5, divisor: 9 };

/** First VIF extension table (true VIF after 0xFB), code without the extension bit. */
export function fbMeaning(code: number): ValueMeaning {
  const n1 = code & 0x01;
  const n2 = code & 0x03;
  const n3 = code & 0x07;
  // MWh → kWh and GJ → kWh (1 GJ = 10^9 J, 1 kWh = 3.6·10^6 J).
  if (code <= 0x01) return numberMeaning("energy", "kWh", n1 - 1, { unitExponent: 3 });
  if (code <= 0x03) return numberMeaning("reactive energy", "kvarh", n1);
  if (code >= 0x08 && code <= 0x09) {
    return numberMeaning("energy", "kWh", n1 - 1, { unitExponent: 9, divisor: 3_600_000 });
  }
  // MCal → kWh (1 cal = 4.184 J).
  if (code >= 0x0c && code <= 0x0f) {
    return numberMeaning("energy", "kWh", n2 - 1, {
      unitExponent: 6,
      multiplier: 4.184,
      divisor: 3_600_000,
    });
  }
  if (code >= 0x10 && code <= 0x11) return numberMeaning("volume", "m³", n1 + 2);
  if (code >= 0x14 && code <= 0x17) return numberMeaning("reactive power", "kvar", n2 - 3);
  if (code >= 0x18 && code <= 0x19) return numberMeaning("mass", "kg", n1 + 2, { unitExponent: 3 });
  if (code >= 0x1a && code <= 0x1b) return numberMeaning("relative humidity", "%", n1 - 1);
  if (code === 0x20) return numberMeaning("volume", "m³", 0, FEET3_TO_M3);
  if (code === 0x21) return numberMeaning("volume", "m³", -1, FEET3_TO_M3);
  if (code >= 0x28 && code <= 0x29)
    return numberMeaning("power", "kW", n1 - 1, { unitExponent: 3 });
  if (code === 0x2a) return numberMeaning("phase U-U", "°", -1);
  if (code === 0x2b) return numberMeaning("phase U-I", "°", -1);
  if (code >= 0x2c && code <= 0x2f) return numberMeaning("frequency", "Hz", n2 - 3);
  if (code >= 0x30 && code <= 0x31) {
    return numberMeaning("power", "kW", n1 - 1, { unitExponent: 9, divisor: 3_600_000 });
  }
  if (code >= 0x34 && code <= 0x37) return numberMeaning("apparent power", "kVA", n2 - 3);
  if (code >= 0x58 && code <= 0x5b)
    return numberMeaning("flow temperature", "°C", n2 - 3, FAHRENHEIT_TO_CELSIUS);
  if (code >= 0x5c && code <= 0x5f) {
    return numberMeaning("return temperature", "°C", n2 - 3, FAHRENHEIT_TO_CELSIUS);
  }
  if (code >= 0x60 && code <= 0x63) {
    return numberMeaning("temperature difference", "K", n2 - 3, FAHRENHEIT_DIFFERENCE_TO_KELVIN);
  }
  if (code >= 0x64 && code <= 0x67) {
    return numberMeaning("external temperature", "°C", n2 - 3, FAHRENHEIT_TO_CELSIUS);
  }
  if (code >= 0x70 && code <= 0x73) {
    return numberMeaning("cold/warm temperature limit", "°C", n2 - 3, FAHRENHEIT_TO_CELSIUS);
  }
  if (code >= 0x74 && code <= 0x77)
    return numberMeaning("cold/warm temperature limit", "°C", n2 - 3);
  if (code >= 0x78) return numberMeaning("cumulative count max power", "kW", n3 - 3, W_TO_KW);
  return otherMeaning(
    `reserved FB 0x${code.toString(16).toUpperCase().padStart(2, "0")}`,
    "opaque",
  );
}
