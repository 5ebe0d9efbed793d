/** Device type (medium) codes of EN 13757-7 / OMS, as carried in the A-field. */
const DEVICE_TYPES = new Map<number, string>([
  [0x00, "other"],
  [0x01, "oil"],
  [0x02, "electricity"],
  [0x03, "gas"],
  [0x04, "heat (outlet)"],
  [0x05, "steam"],
  [0x06, "warm water (30-90 °C)"],
  [0x07, "water"],
  [0x08, "heat cost allocator"],
  [0x09, "compressed air"],
  [0x0a, "cooling load (outlet)"],
  [0x0b, "cooling load (inlet)"],
  [0x0c, "heat (inlet)"],
  [0x0d, "heat/cooling load"],
  [0x0e, "bus/system component"],
  [0x0f, "unknown medium"],
  [0x10, "irrigation water"],
  [0x11, "water data logger"],
  [0x12, "gas data logger"],
  [0x13, "gas converter"],
  [0x14, "calorific value"],
  [0x15, "hot water (≥90 °C)"],
  [0x16, "cold water"],
  [0x17, "dual register (hot/cold) water"],
  [0x18, "pressure"],
  [0x19, "A/D converter"],
  [0x1a, "smoke detector"],
  [0x1b, "room sensor"],
  [0x1c, "gas detector"],
  [0x20, "breaker (electricity)"],
  [0x21, "valve (gas or water)"],
  [0x25, "customer unit (display)"],
  [0x28, "waste water"],
  [0x29, "garbage"],
  [0x2a, "carbon dioxide"],
  [0x30, "service tool"],
  [0x31, "communication controller (gateway)"],
  [0x32, "unidirectional repeater"],
  [0x33, "bidirectional repeater"],
  [0x36, "radio converter (system side)"],
  [0x37, "radio converter (meter side)"],
  [0x38, "wired adapter"],
  [0xff, "wildcard"],
]);

export function deviceTypeName(code: number): string {
  const name = DEVICE_TYPES.get(code);
  if (name !== undefined) return name;
  if (code >= 0x1d && code <= 0x1f) return "reserved (sensor)";
  if (code >= 0x22 && code <= 0x24) return "reserved (switching device)";
  if (code >= 0x26 && code <= 0x27) return "reserved (customer unit)";
  if (code >= 0x2b && code <= 0x2f) return "reserved (environmental)";
  if (code >= 0x34 && code <= 0x3f) return "reserved (system device)";
  return "reserved";
}
