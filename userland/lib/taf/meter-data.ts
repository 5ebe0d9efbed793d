/** Reader for the gateway's meter-data document (IF_Adapter_TRuDI). */
import { readReportedAnalysisProfile } from "./analysis-profile.ts";
import type {
  IntervalBlock,
  IntervalReading,
  LogEntry,
  MeterDataDocument,
  MeterReading,
  ReadingType,
} from "./model.ts";
import { parseObis } from "./obis.ts";
import { fnnStatusToPtb, isFnnStatusText } from "./status.ts";
import { readHeader, singleUsagePoint } from "./usage-point.ts";
import {
  ElementReader,
  INT48_MAX,
  INT48_MIN,
  type ReadXmlOptions,
  readXml,
  UINT8_MAX,
  UINT16_MAX,
  UINT32_MAX,
  type XmlElement,
} from "./xml.ts";

export function parseMeterData(
  input: string | Uint8Array,
  options: ReadXmlOptions = {},
): MeterDataDocument {
  const r = new ElementReader("parse-meter-data");
  const root = readXml(input, r.phase, options);
  const usagePoint = singleUsagePoint(r, root, "IF_Adapter_TRuDI");
  const profileElement = r.optional(usagePoint, "AnalysisProfile");
  return {
    ...readHeader(r, usagePoint),
    analysisProfile:
      profileElement === undefined ? undefined : readReportedAnalysisProfile(r, profileElement),
    logEntries: r.all(usagePoint, "LogEntry").map((e) => readLogEntry(r, e)),
    meterReadings: r.all(usagePoint, "MeterReading").map((m, i) => readMeterReading(r, m, i + 1)),
  };
}

function readMeterReading(r: ElementReader, element: XmlElement, position: number): MeterReading {
  const meter = r.optional(element, "Meter");
  return {
    position,
    meterId: meter === undefined ? undefined : r.optionalText(meter, "meterId"),
    meterReadingId: r.optionalText(element, "meterReadingId"),
    readingType: readReadingType(r, r.required(element, "ReadingType")),
    intervalBlocks: r.all(element, "IntervalBlock").map((b) => readIntervalBlock(r, b)),
  };
}

function readReadingType(r: ElementReader, element: XmlElement): ReadingType {
  const obisElement = r.required(element, "obisCode");
  const obis = parseObis(obisElement.text);
  if (obis === undefined) throw r.invalid(obisElement, "an OBIS code");
  return {
    obisCode: obisElement.text,
    obis,
    qualifiedLogicalName: r.optionalText(element, "qualifiedLogicalName"),
    uom: r.optionalInteger(element, "uom", 0, UINT16_MAX),
    scaler: r.optionalInteger(element, "scaler", -32768, 32767),
    powerOfTenMultiplier: r.optionalInteger(element, "powerOfTenMultiplier", -128, 127),
    intervalLength: r.optionalInteger(element, "intervalLength", 0, UINT32_MAX),
    measurementPeriod: r.optionalInteger(element, "measurementPeriod", 0, UINT32_MAX),
  };
}

function readIntervalBlock(r: ElementReader, element: XmlElement): IntervalBlock {
  const interval = r.required(element, "interval");
  return {
    intervalStart: r.dateTime(interval, "start"),
    intervalDuration: r.integer(interval, "duration", 0, UINT32_MAX),
    intervalReadings: r.all(element, "IntervalReading").map((ir) => readIntervalReading(r, ir)),
  };
}

function readIntervalReading(r: ElementReader, element: XmlElement): IntervalReading {
  const timePeriod = r.required(element, "timePeriod");
  const fnnElement = r.optional(element, "statusFNN");
  let statusFNN: string | undefined;
  let statusFNNAsPTB: number | undefined;
  if (fnnElement !== undefined) {
    if (!isFnnStatusText(fnnElement.text)) {
      throw r.invalid(fnnElement, "an FNN status word (up to 16 hex digits)");
    }
    statusFNN = fnnElement.text;
    statusFNNAsPTB = fnnStatusToPtb(statusFNN);
  }
  return {
    value: r.integer(element, "value", INT48_MIN, INT48_MAX),
    timePeriodStart: r.dateTime(timePeriod, "start"),
    timePeriodDuration: r.optionalInteger(timePeriod, "duration", 0, UINT32_MAX),
    targetTime: r.optionalDateTime(element, "targetTime"),
    statusPTB: r.optionalInteger(element, "statusPTB", 0, UINT8_MAX),
    statusFNN,
    statusFNNAsPTB,
  };
}

function readLogEntry(r: ElementReader, element: XmlElement): LogEntry {
  const event = r.all(element, "LogEvent")[0];
  return {
    recordNumber: r.optionalInteger(element, "recordNumber", 0, UINT32_MAX),
    level: event === undefined ? undefined : r.optionalInteger(event, "level", 0, UINT8_MAX),
    text: event === undefined ? undefined : r.optionalText(event, "text"),
    outcome: event === undefined ? undefined : r.optionalInteger(event, "outcome", 0, UINT8_MAX),
    timestamp: event === undefined ? undefined : r.optionalDateTime(event, "timestamp"),
  };
}
