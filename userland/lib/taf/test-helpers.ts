// Shared helpers for this package's tests: the golden folder and small AR 2418-6 documents.
import path from "node:path";
import { formatBerlin, MINUTE, parseDateTime } from "./time.ts";

export const GOLDEN_DIR =
  process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "../../..", "../shared/golden");
export const TRUDI_TAF_DIR = path.join(GOLDEN_DIR, "trudi-taf");

export interface ReadingSpec {
  /** Capture time, xs:dateTime. */
  at: string;
  value: number;
  ptb?: number;
  fnn?: string;
  target?: string;
}

export interface ListSpec {
  obis?: string;
  meterId?: string;
  qualifiedLogicalName?: string;
  measurementPeriod?: number;
  blocks: { start: string; duration: number; readings: ReadingSpec[] }[];
}

const HEAD =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<UsagePoints xmlns="http://vde.de/AR_2418-6.xsd" xmlns:espi="http://naesb.org/espi">';

function readingXml(r: ReadingSpec): string {
  return (
    `<IntervalReading><espi:value>${r.value}</espi:value>` +
    `<timePeriod><duration>0</duration><start>${r.at}</start></timePeriod>` +
    (r.target === undefined ? "" : `<targetTime>${r.target}</targetTime>`) +
    (r.fnn === undefined ? "" : `<statusFNN>${r.fnn}</statusFNN>`) +
    (r.ptb === undefined ? "" : `<statusPTB>${r.ptb}</statusPTB>`) +
    "</IntervalReading>"
  );
}

export function meterDataXml(lists: ListSpec[], extra = ""): string {
  const readings = lists.map((l, i) => {
    const meterId = l.meterId ?? "1TST0000000001";
    const obis = l.obis ?? "0100010800FF";
    const qln = l.qualifiedLogicalName ?? `${obis}.${meterId}.sm`;
    return (
      `<MeterReading><Meter><meterId>${meterId}</meterId></Meter>` +
      `<meterReadingId>${obis}.${meterId}.${i}</meterReadingId>` +
      `<ReadingType><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier><espi:uom>72</espi:uom>` +
      `<scaler>-1</scaler><obisCode>${obis}</obisCode><qualifiedLogicalName>${qln}</qualifiedLogicalName>` +
      (l.measurementPeriod === undefined
        ? ""
        : `<measurementPeriod>${l.measurementPeriod}</measurementPeriod>`) +
      "</ReadingType>" +
      l.blocks
        .map(
          (b) =>
            `<IntervalBlock><interval><duration>${b.duration}</duration><start>${b.start}</start></interval>` +
            b.readings.map(readingXml).join("") +
            "</IntervalBlock>",
        )
        .join("") +
      "</MeterReading>"
    );
  });
  return (
    `${HEAD}<UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory>` +
    `<usagePointId>TEST</usagePointId><SMGW><smgwId>ETST0000000001</smgwId></SMGW>${extra}` +
    `${readings.join("")}</UsagePoint></UsagePoints>`
  );
}

export interface SupplierSpec {
  useCase: number;
  start: string;
  duration: number;
  stages: { tariffNumber: number; obis: string }[];
  dayProfiles: { dayId: string; entries: [string, number][] }[];
  specialDays: { date: string; dayId: string }[];
}

export function supplierXml(s: SupplierSpec): string {
  const stages = s.stages
    .map(
      (t) =>
        `<TariffStage><tariffNumber>${t.tariffNumber}</tariffNumber><obisCode>${t.obis}</obisCode></TariffStage>`,
    )
    .join("");
  const dayProfiles = s.dayProfiles
    .map(
      (d) =>
        `<DayProfile><dayId>${d.dayId}</dayId>` +
        d.entries
          .map(([time, tariff]) => {
            const [hour, minute] = time.split(":");
            return `<DayTimeProfile><startTime><hour>${Number(hour)}</hour><minute>${Number(minute)}</minute></startTime><tariffNumber>${tariff}</tariffNumber></DayTimeProfile>`;
          })
          .join("") +
        "</DayProfile>",
    )
    .join("");
  const specialDays = s.specialDays
    .map((d) => {
      const [year, month, day] = d.date.split("-").map(Number);
      return `<SpecialDayProfile><specialDayDate><year>${year}</year><month>${month}</month><day_of_month>${day}</day_of_month></specialDayDate><dayId>${d.dayId}</dayId></SpecialDayProfile>`;
    })
    .join("");
  return (
    `${HEAD}<UsagePoint><usagePointId>TEST</usagePointId><tariffName>test</tariffName>` +
    `<AnalysisProfile><tariffUseCase>${s.useCase}</tariffUseCase><tariffId>test</tariffId>` +
    `<billingPeriod><duration>${s.duration}</duration><start>${s.start}</start></billingPeriod>` +
    `${stages}<defaultTariffNumber>1</defaultTariffNumber>` +
    `<TariffChangeTrigger><TimeTrigger>${dayProfiles}${specialDays}</TimeTrigger></TariffChangeTrigger>` +
    "</AnalysisProfile></UsagePoint></UsagePoints>"
  );
}

/**
 * Meter readings every `stepMinutes` from `start` (xs:dateTime), `count` of them, counting up
 * by `increment` from `first`. Timestamps carry the Berlin offset of their instant.
 */
export function steadyReadings(
  start: string,
  count: number,
  options: { stepMinutes?: number; first?: number; increment?: number } = {},
): ReadingSpec[] {
  const begin = parseDateTime(start);
  if (begin === undefined) throw new Error(`bad start ${start}`);
  const step = (options.stepMinutes ?? 15) * MINUTE;
  const result: ReadingSpec[] = [];
  for (let i = 0; i < count; i++) {
    result.push({
      at: formatBerlin(begin.instant + i * step),
      value: (options.first ?? 0) + i * (options.increment ?? 10),
    });
  }
  return result;
}

/** 96 quarter-hour entries of a day, switching tariffs at the given times ("HH:MM"). */
export function quarterHourProfile(
  dayId: string,
  switches: [string, number][],
): { dayId: string; entries: [string, number][] } {
  const entries: [string, number][] = [];
  let tariff = switches[0]?.[1] ?? 1;
  for (let q = 0; q < 96; q++) {
    const time = `${String(Math.floor(q / 4)).padStart(2, "0")}:${String((q % 4) * 15).padStart(2, "0")}`;
    const change = switches.find(([t]) => t === time);
    if (change !== undefined) tariff = change[1];
    entries.push([time, tariff]);
  }
  return { dayId, entries };
}
