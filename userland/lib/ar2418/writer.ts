// Writer of the VDE AR 2418-6 meter-data document (IF_Adapter_TRuDI): UsagePoints with one
// UsagePoint holding the consumer log's entries and one MeterReading per register, each with
// its ReadingType (OBIS as 12 hex digits, unit, scaler) and an IntervalBlock of readings.
// Elements are written in the order the XSD's sequences demand, so every document validates.
import { uomOf } from "./units.ts";

export const AR2418_NAMESPACE = "http://vde.de/AR_2418-6.xsd";
export const ESPI_NAMESPACE = "http://naesb.org/espi";

const INT48_MAX = 2 ** 47 - 1;
const UINT32_MAX = 0xffffffff;
/** Finest scaler chosen automatically: a micro-unit is below any meter's resolution. */
const MAX_DECIMALS = 6;

/** A document that cannot be written, with the place in the input that is wrong. */
export class Ar2418Error extends Error {
  override name = "Ar2418Error";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export interface LogEntryInput {
  recordNumber?: number;
  /** 1 info, 2 warning, 3 error, 4 fatal. */
  level: 1 | 2 | 3 | 4;
  text: string;
  /** 0 success, 1 failure. */
  outcome?: 0 | 1;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

export interface IntervalReadingInput {
  /** Time of the reading, milliseconds since the epoch. */
  time: number;
  /** Value in the register's unit; written as an integer times 10^scaler. */
  value: number;
  /** FNN status word, 16 hex digits (see fnnStatusWord). */
  statusFNN?: string;
  /** PTB status 0..4. */
  statusPTB?: number;
}

export interface MeterReadingInput {
  /** The meter's identity as printed on it (String64). */
  meterId?: string;
  /** Identifies this value list (String256). */
  meterReadingId?: string;
  /** OBIS code, "1-0:1.8.0*255" or 12 hex digits. */
  obis: string;
  /** Unit symbol, e.g. "Wh". */
  unit: string;
  /** Power of ten of the written integers; chosen from the values if absent. */
  scaler?: number;
  qualifiedLogicalName?: string;
  /** Measurement period in seconds, if the list is regular. */
  measurementPeriod?: number;
  /** The period the readings were asked for; from the readings if absent. */
  interval?: { start: number; durationSeconds: number };
  readings: readonly IntervalReadingInput[];
}

export interface UsagePointInput {
  /** ESPI ServiceKind: 0 electricity, 1 gas, 2 water, 4 heat. */
  serviceKind?: number;
  usagePointId?: string;
  customerId?: string;
  invoicingPartyId?: string;
  smgwId?: string;
  firmwareVersion?: string;
  tariffName?: string;
  logEntries?: readonly LogEntryInput[];
  meterReadings: readonly MeterReadingInput[];
}

export interface Ar2418Document {
  generatorVersion?: string;
  usagePoint: UsagePointInput;
}

/** The document as XML text (UTF-8, no byte order mark). */
export function writeAr2418(doc: Ar2418Document): string {
  const out: string[] = [];
  const w = (s: string) => out.push(s);
  w('<?xml version="1.0" encoding="UTF-8"?>\n');
  w(
    `<UsagePoints xmlns="${AR2418_NAMESPACE}" xmlns:espi="${ESPI_NAMESPACE}"` +
      ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' +
      ` xsi:schemaLocation="${AR2418_NAMESPACE} AR_2418-6.xsd">\n`,
  );
  if (doc.generatorVersion !== undefined) {
    w(leaf(1, "GeneratorVersion", str(doc.generatorVersion, 256, "GeneratorVersion")));
  }
  writeUsagePoint(w, doc.usagePoint, "UsagePoint");
  w("</UsagePoints>\n");
  return out.join("");
}

function writeUsagePoint(w: (s: string) => void, up: UsagePointInput, path: string): void {
  w("  <UsagePoint>\n");
  const kind = up.serviceKind ?? 0;
  w("    <espi:ServiceCategory>\n");
  w(leaf(3, "espi:kind", uint(kind, 65535, `${path}/ServiceCategory/kind`)));
  w("    </espi:ServiceCategory>\n");
  if (up.usagePointId !== undefined) {
    w(leaf(2, "usagePointId", str(up.usagePointId, 256, `${path}/usagePointId`)));
  }
  if (up.customerId !== undefined) {
    w("    <Customer>\n");
    w(leaf(3, "customerId", str(up.customerId, 64, `${path}/Customer/customerId`)));
    w("    </Customer>\n");
  }
  if (up.invoicingPartyId !== undefined) {
    w("    <InvoicingParty>\n");
    w(
      leaf(
        3,
        "invoicingPartyId",
        str(up.invoicingPartyId, 64, `${path}/InvoicingParty/invoicingPartyId`),
      ),
    );
    w("    </InvoicingParty>\n");
  }
  if (up.smgwId !== undefined) {
    w("    <SMGW>\n");
    w(leaf(3, "smgwId", str(up.smgwId, 32, `${path}/SMGW/smgwId`)));
    if (up.firmwareVersion !== undefined) {
      w(leaf(3, "FirmwareVersion", str(up.firmwareVersion, 64, `${path}/SMGW/FirmwareVersion`)));
    }
    w("    </SMGW>\n");
  } else if (up.firmwareVersion !== undefined) {
    throw new Ar2418Error(`${path}/SMGW`, "a firmware version needs the gateway's smgwId");
  }
  if (up.tariffName !== undefined) {
    w(leaf(2, "tariffName", str(up.tariffName, 256, `${path}/tariffName`)));
  }
  (up.logEntries ?? []).forEach((e, i) => {
    writeLogEntry(w, e, `${path}/LogEntry[${i + 1}]`);
  });
  up.meterReadings.forEach((m, i) => {
    writeMeterReading(w, m, `${path}/MeterReading[${i + 1}]`);
  });
  w("  </UsagePoint>\n");
}

function writeLogEntry(w: (s: string) => void, e: LogEntryInput, path: string): void {
  w("    <LogEntry>\n");
  if (e.recordNumber !== undefined) {
    w(leaf(3, "recordNumber", uint(e.recordNumber, UINT32_MAX, `${path}/recordNumber`)));
  }
  w("      <LogEvent>\n");
  if (![1, 2, 3, 4].includes(e.level)) {
    throw new Ar2418Error(`${path}/LogEvent/level`, `level ${e.level} is not 1..4`);
  }
  w(leaf(4, "level", String(e.level)));
  // The log text is the gateway's own; an overlong one is cut rather than refused.
  w(leaf(4, "text", escapeText(cut(e.text, 16384))));
  if (e.outcome !== undefined) {
    if (e.outcome !== 0 && e.outcome !== 1) {
      throw new Ar2418Error(`${path}/LogEvent/outcome`, `outcome ${e.outcome} is not 0 or 1`);
    }
    w(leaf(4, "outcome", String(e.outcome)));
  }
  w(leaf(4, "timestamp", dateTime(e.timestamp, `${path}/LogEvent/timestamp`)));
  w("      </LogEvent>\n");
  w("    </LogEntry>\n");
}

function writeMeterReading(w: (s: string) => void, m: MeterReadingInput, path: string): void {
  const obisHex = obisToHex(m.obis, `${path}/ReadingType/obisCode`);
  const unit = uomOf(m.unit);
  if (!unit) throw new Ar2418Error(`${path}/ReadingType/uom`, "the unit has no ESPI unit code");
  const values = m.readings.map((r, i) => {
    if (!Number.isFinite(r.value)) {
      throw new Ar2418Error(`${path}/IntervalBlock/IntervalReading[${i + 1}]/value`, "not finite");
    }
    return r.value;
  });
  const scaler = m.scaler ?? chooseScaler(values);
  if (!Number.isInteger(scaler) || scaler < -32768 || scaler > 32767) {
    throw new Ar2418Error(`${path}/ReadingType/scaler`, `scaler ${scaler} is not an Int16`);
  }
  w("    <MeterReading>\n");
  if (m.meterId !== undefined) {
    w("      <Meter>\n");
    w(leaf(4, "meterId", str(m.meterId, 64, `${path}/Meter/meterId`)));
    w("      </Meter>\n");
  }
  if (m.meterReadingId !== undefined) {
    w(leaf(3, "meterReadingId", str(m.meterReadingId, 256, `${path}/meterReadingId`)));
  }
  w("      <ReadingType>\n");
  w(leaf(4, "espi:powerOfTenMultiplier", String(unit.powerOfTenMultiplier)));
  w(leaf(4, "espi:uom", String(unit.uom)));
  w(leaf(4, "scaler", String(scaler)));
  w(leaf(4, "obisCode", obisHex));
  if (m.qualifiedLogicalName !== undefined) {
    w(
      leaf(
        4,
        "qualifiedLogicalName",
        str(m.qualifiedLogicalName, 256, `${path}/ReadingType/qualifiedLogicalName`),
      ),
    );
  }
  if (m.measurementPeriod !== undefined) {
    w(
      leaf(
        4,
        "measurementPeriod",
        uint(m.measurementPeriod, UINT32_MAX, `${path}/ReadingType/measurementPeriod`),
      ),
    );
  }
  w("      </ReadingType>\n");
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  m.readings.forEach((r, i) => {
    dateTime(r.time, `${path}/IntervalBlock/IntervalReading[${i + 1}]/timePeriod/start`);
    first = Math.min(first, r.time);
    last = Math.max(last, r.time);
  });
  const interval = m.interval ?? {
    start: m.readings.length ? first : 0,
    durationSeconds: m.readings.length ? Math.round((last - first) / 1000) : 0,
  };
  const block = `${path}/IntervalBlock`;
  w("      <IntervalBlock>\n");
  w("        <interval>\n");
  w(leaf(5, "duration", uint(interval.durationSeconds, UINT32_MAX, `${block}/interval/duration`)));
  w(leaf(5, "start", dateTime(interval.start, `${block}/interval/start`)));
  w("        </interval>\n");
  m.readings.forEach((r, i) => {
    const at = `${block}/IntervalReading[${i + 1}]`;
    const scaled = Math.round(r.value * 10 ** -scaler);
    if (!Number.isSafeInteger(scaled) || Math.abs(scaled) > INT48_MAX) {
      throw new Ar2418Error(
        `${at}/value`,
        `${r.value} does not fit an Int48 with scaler ${scaler}`,
      );
    }
    w("        <IntervalReading>\n");
    w(leaf(5, "espi:value", String(scaled === 0 ? 0 : scaled)));
    w("          <timePeriod>\n");
    w(leaf(6, "duration", "0"));
    w(leaf(6, "start", dateTime(r.time, `${at}/timePeriod/start`)));
    w("          </timePeriod>\n");
    if (r.statusFNN !== undefined) {
      if (!/^[0-9A-Fa-f]{16}$/.test(r.statusFNN)) {
        throw new Ar2418Error(`${at}/statusFNN`, "the FNN status word must be 16 hex digits");
      }
      w(leaf(5, "statusFNN", r.statusFNN.toUpperCase()));
    }
    if (r.statusPTB !== undefined) w(leaf(5, "statusPTB", uint(r.statusPTB, 4, `${at}/statusPTB`)));
    w("        </IntervalReading>\n");
  });
  w("      </IntervalBlock>\n");
  w("    </MeterReading>\n");
}

/**
 * The largest scaler (fewest decimals, down to 10^-6) at which every value is an exact
 * integer; coarser if the integers would not fit an Int48.
 */
export function chooseScaler(values: readonly number[]): number {
  let scaler = -MAX_DECIMALS;
  for (let k = 0; k <= MAX_DECIMALS; k++) {
    const f = 10 ** k;
    if (values.every((v) => Math.round(v * f) / f === v)) {
      scaler = k === 0 ? 0 : -k;
      break;
    }
  }
  while (scaler < 18 && values.some((v) => Math.abs(Math.round(v * 10 ** -scaler)) > INT48_MAX)) {
    scaler++;
  }
  return scaler;
}

const OBIS_DECIMAL = /^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})\*(\d{1,3})$/;

/** "1-0:1.8.0*255" as the 12 hex digits AR 2418-6 uses ("0100010800FF"). */
export function obisToHex(obis: string, path = "obisCode"): string {
  if (/^[0-9A-Fa-f]{12}$/.test(obis)) return obis.toUpperCase();
  const m = OBIS_DECIMAL.exec(obis);
  const groups = m ? m.slice(1).map(Number) : [];
  if (!m || groups.some((g) => g > 255)) {
    throw new Ar2418Error(path, "not an OBIS code like 1-0:1.8.0*255");
  }
  return groups.map((g) => g.toString(16).toUpperCase().padStart(2, "0")).join("");
}

function leaf(depth: number, name: string, text: string): string {
  return `${"  ".repeat(depth)}<${name}>${text}</${name}>\n`;
}

function uint(value: number, max: number, path: string): string {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new Ar2418Error(path, `${value} is not an integer from 0 to ${max}`);
  }
  return String(value);
}

/** An identifier: too long or with characters XML cannot hold is an error, not cut. */
function str(value: string, maxLength: number, path: string): string {
  if (typeof value !== "string") throw new Ar2418Error(path, "not a string");
  if ([...value].length > maxLength) {
    throw new Ar2418Error(path, `longer than ${maxLength} characters`);
  }
  if (INVALID_XML_CHAR.test(value)) {
    throw new Ar2418Error(path, "holds a character XML 1.0 cannot carry");
  }
  return escapeText(value);
}

function cut(text: string, maxLength: number): string {
  const chars = [...text];
  return chars.length <= maxLength ? text : `${chars.slice(0, maxLength - 1).join("")}…`;
}

// Characters outside XML 1.0's Char production (controls, lone surrogates, U+FFFE/U+FFFF).
const INVALID_XML_CHAR =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the ones XML forbids
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const INVALID_XML_CHARS = new RegExp(INVALID_XML_CHAR.source, "g");

/** Text content: markup characters escaped, characters XML cannot carry replaced by U+FFFD. */
export function escapeText(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\r/g, "&#13;");
}

const HOUR = 3_600_000;

function lastSundayOneUtc(year: number, monthIndex: number): number {
  const lastDay = new Date(Date.UTC(year, monthIndex + 1, 0));
  return Date.UTC(year, monthIndex, lastDay.getUTCDate() - lastDay.getUTCDay(), 1);
}

/** Offset of German legal time (EU summer-time rule) from UTC at an instant, in ms. */
export function berlinOffset(instant: number): number {
  const year = new Date(instant).getUTCFullYear();
  return instant >= lastSundayOneUtc(year, 2) && instant < lastSundayOneUtc(year, 9)
    ? 2 * HOUR
    : HOUR;
}

/** An instant as xs:dateTime in German legal time, e.g. 2026-01-01T00:00:00+01:00. */
export function formatDateTime(instant: number): string {
  const offset = berlinOffset(instant);
  const d = new Date(instant + offset);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const ms = d.getUTCMilliseconds();
  return (
    `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}` +
    `T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}` +
    `${ms ? `.${p(ms, 3)}` : ""}+${p(offset / HOUR)}:00`
  );
}

// Years 1970..9999: what a gateway's clock can produce and xs:dateTime's four digits hold.
const MAX_INSTANT = Date.UTC(9999, 11, 31, 20, 0, 0);

function dateTime(instant: number, path: string): string {
  if (!Number.isFinite(instant) || instant < 0 || instant > MAX_INSTANT) {
    throw new Ar2418Error(path, "not a time between 1970 and 9999");
  }
  return formatDateTime(Math.floor(instant));
}
