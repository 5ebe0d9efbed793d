// What a profile delivers, as a VDE AR 2418-6 document (the format EMTs and TRuDI read):
// TAF7 register series, or the billing registers of a closed TAF1/TAF2 period. Where the profile
// asks for pseudonymisation, the gateway's and the meters' identities are replaced before the
// document is built: the gateway becomes the profile's pseudonym, each meter the pseudonym with
// its position in the profile. The mapping is the policy's and never leaves the gateway; no
// consumer name goes into a pseudonymised document.
import { writeAr2418 } from "@smgw/ar2418";

export interface SeriesPoint {
  /** The period boundary, ms. */
  time: number;
  /** The register value there; undefined when none was measured within the tolerance. */
  value: number | undefined;
  /** PTB status 0..4 (0 ok; 3 critical, 4 fatal: not billable). */
  statusPTB: number;
}

export interface MeterSeries {
  meter: string;
  /** The identity printed on the meter (SML server id, wM-Bus manufacturer and number). */
  meterId: string;
  obis: string;
  unit: string;
  periodSeconds: number;
  points: readonly SeriesPoint[];
}

export interface MeterRegisters {
  meter: string;
  meterId: string;
  unit: string;
  registers: readonly { obis: string; amount: number }[];
}

export interface Identity {
  gatewayId: string;
  /** Consumer of each meter, named in non-pseudonymised documents only. */
  consumerOf: (meter: string) => string | undefined;
  pseudonym?: string;
  /** Order of the meters in the profile (for their pseudonyms). */
  profileMeters: readonly string[];
}

function meterIdentity(id: Identity, meter: string, printed: string): string {
  if (id.pseudonym === undefined) return printed;
  const n = id.profileMeters.indexOf(meter);
  if (n < 0) throw new Error(`meter ${meter} is not in the profile`);
  return `${id.pseudonym}-${n + 1}`;
}

function header(id: Identity, consumer: string | undefined) {
  if (id.pseudonym !== undefined) return { smgwId: id.pseudonym };
  return { smgwId: id.gatewayId, ...(consumer !== undefined ? { customerId: consumer } : {}) };
}

/** TAF7: the register series of the profile's meters for one delivery interval. */
export function seriesDocument(
  profile: string,
  id: Identity,
  series: readonly MeterSeries[],
): string {
  const consumers = new Set(series.map((s) => id.consumerOf(s.meter)));
  const consumer = consumers.size === 1 ? [...consumers][0] : undefined;
  return writeAr2418({
    usagePoint: {
      ...header(id, consumer),
      tariffName: profile,
      meterReadings: series
        .filter((s) => s.points.length > 0)
        .map((s) => ({
          meterId: meterIdentity(id, s.meter, s.meterId),
          meterReadingId: `${profile}-${meterIdentity(id, s.meter, s.meterId)}-${s.obis}`,
          obis: s.obis,
          unit: s.unit,
          measurementPeriod: s.periodSeconds,
          // A boundary without a measurement is written as 0 with the fatal PTB status, so
          // it is never billed; the gap stays visible.
          readings: s.points.map((p) => ({
            time: p.time,
            value: p.value ?? 0,
            statusPTB: p.value === undefined ? 4 : p.statusPTB,
          })),
        })),
    },
  });
}

/** TAF1/TAF2: the registers of one closed billing period. */
export function billingDocument(
  profile: string,
  id: Identity,
  period: { start: number; end: number },
  meters: readonly MeterRegisters[],
): string {
  const consumers = new Set(meters.map((m) => id.consumerOf(m.meter)));
  const consumer = consumers.size === 1 ? [...consumers][0] : undefined;
  return writeAr2418({
    usagePoint: {
      ...header(id, consumer),
      tariffName: profile,
      meterReadings: meters.flatMap((m) =>
        m.registers.map((r) => ({
          meterId: meterIdentity(id, m.meter, m.meterId),
          meterReadingId: `${profile}-${meterIdentity(id, m.meter, m.meterId)}-${r.obis}`,
          obis: r.obis,
          unit: m.unit,
          interval: {
            start: period.start,
            durationSeconds: Math.round((period.end - period.start) / 1000),
          },
          readings: [{ time: period.end, value: r.amount, statusPTB: 0 }],
        })),
      ),
    },
  });
}
