/**
 * Original value lists (originäre Messwertlisten) and the reading lookup the tariff engines use.
 *
 * Rules, as TRuDI applies them:
 * - A MeterReading is an original value list when the middle part of its qualifiedLogicalName
 *   ("<obis>.<meterId>.<suffix>") equals its Meter's meterId.
 * - Each reading gets a target time: the explicit targetTime if given, else its capture time
 *   (timePeriod/start) snapped to the measurement-period grid if it is off by at most 3 % of the
 *   period (27 s for 15 minutes). Readings further off keep their capture time and so are never
 *   found at a grid point: for billing they count as gaps.
 * - The measurement period is ReadingType/measurementPeriod if given and not 0, else the most
 *   frequent distance between neighbouring readings that matches a standard period within 2 %.
 * - Grid, day boundaries and lookups use German local clock time (see time.ts).
 * - A lookup for a clock time searches only the first interval block whose interval (or its
 *   interval snapped to the 15-minute grid within 1 %) contains the time; within it the first
 *   reading in time order whose target time has that clock time wins (in the repeated hour of
 *   October that is the summer-time reading).
 */
import type { IntervalReading, MeterReading } from "./model.ts";
import { PTB_CRITICAL_TEMPORARY_ERROR } from "./model.ts";
import type { Obis } from "./obis.ts";
import { isUsableStatus } from "./status.ts";
import {
  DAY,
  SECOND,
  type Timestamp,
  timestampOfInstant,
  timestampOfWall,
  wallDate,
} from "./time.ts";

/** A reading as the engines see it. */
export interface Reading {
  readonly value: number;
  readonly target: Timestamp;
  readonly usable: boolean;
  readonly source: IntervalReading;
}

interface Block {
  readonly startWall: number;
  readonly endWall: number;
  readonly alignedStartWall: number;
  readonly alignedEndWall: number;
  /** Readings in time order. */
  readonly readings: readonly Reading[];
  /** First reading for each target wall time. */
  readonly byWall: ReadonlyMap<number, Reading>;
}

const STANDARD_PERIODS = [
  900,
  60,
  120,
  180,
  240,
  300,
  600,
  1800,
  2400,
  3600,
  5400,
  7200,
  3 * 3600,
  4 * 3600,
  6 * 3600,
  8 * 3600,
  12 * 3600,
  24 * 3600,
  2592000,
];

export function isOriginalValueList(meterReading: MeterReading): boolean {
  const meterId = meterReading.meterId;
  if (meterId === undefined || meterId.trim() === "") return false;
  const parts = (meterReading.readingType.qualifiedLogicalName ?? "").split(".");
  return parts.length === 3 && parts[1] === meterId;
}

/** Standard period that a distance in seconds matches, or 0. */
export function matchingMeasurementPeriod(span: number): number {
  for (const period of STANDARD_PERIODS) {
    const window = Math.floor(period / 100) * 2;
    if (span === period || (span > period - window && span < period + window)) return period;
  }
  return 0;
}

function periodOfReadings(readings: readonly IntervalReading[], ignoreErrors: boolean): number {
  const counts = new Map<number, number>();
  for (let i = 1; i < readings.length; i++) {
    const current = readings[i] as IntervalReading;
    const previous = readings[i - 1] as IntervalReading;
    const critical = (r: IntervalReading) =>
      r.statusPTB !== undefined && r.statusPTB >= PTB_CRITICAL_TEMPORARY_ERROR;
    if (ignoreErrors && (critical(current) || critical(previous))) continue;
    // Distance in local clock time, truncated to whole seconds.
    const span = Math.trunc(
      (current.timePeriodStart.wall - previous.timePeriodStart.wall) / SECOND,
    );
    const period = matchingMeasurementPeriod(span);
    if (period !== 0) counts.set(period, (counts.get(period) ?? 0) + 1);
  }
  // Most frequent; on a tie the period seen first loses to the one seen later.
  let best = 0;
  let bestCount = 0;
  for (const [period, count] of counts) {
    if (count >= bestCount) {
      best = period;
      bestCount = count;
    }
  }
  return best;
}

/** Measurement period in seconds, or 0 if none can be found. */
export function measurementPeriodOf(
  meterReading: MeterReading,
  blocksInOrder: readonly { intervalReadings: readonly IntervalReading[] }[],
): number {
  const given = meterReading.readingType.measurementPeriod;
  if (given !== undefined && given !== 0) return given;
  for (const ignoreErrors of [true, false]) {
    for (const block of blocksInOrder) {
      const period = periodOfReadings(block.intervalReadings, ignoreErrors);
      if (period !== 0) return period;
    }
  }
  return 0;
}

/**
 * Snaps a timestamp to the grid of `period` seconds (counted from local midnight) if it is off
 * by at most `tolerancePercent` of the period; otherwise returns it unchanged.
 */
export function alignToGrid(time: Timestamp, period: number, tolerancePercent: number): Timestamp {
  if (period <= 0) return time;
  if (period < 86400) {
    const secondsOfDay = Math.floor((time.wall - wallDate(time.wall)) / SECOND);
    const toNext = period - (secondsOfDay % period);
    if (toNext === period) return time;
    const window = Math.floor((period * tolerancePercent) / 100);
    if (toNext <= window) return timestampOfInstant(time.instant + toNext * SECOND);
    if (period - toNext <= window)
      return timestampOfInstant(time.instant - (period - toNext) * SECOND);
    return time;
  }
  if (period === 86400) {
    const limit = Math.floor((86400 * tolerancePercent) / 100) * SECOND;
    const thisDay = wallDate(time.wall);
    for (const midnight of [thisDay, thisDay + DAY]) {
      if (time.wall >= midnight - limit && time.wall <= midnight + limit) {
        return timestampOfWall(midnight);
      }
    }
  }
  return time;
}

function byInstant(a: { instant: number }, b: { instant: number }): number {
  return a.instant - b.instant;
}

/** An original value list prepared for lookups by clock time. */
export class OriginalValueList {
  readonly obis: Obis;
  readonly measurementPeriod: number;
  private readonly blocks: readonly Block[];

  constructor(readonly meterReading: MeterReading) {
    this.obis = meterReading.readingType.obis;
    const blocksInOrder = [...meterReading.intervalBlocks].sort((a, b) =>
      byInstant(a.intervalStart, b.intervalStart),
    );
    this.measurementPeriod = measurementPeriodOf(meterReading, blocksInOrder);
    this.blocks = blocksInOrder.map((block) => {
      const readings = [...block.intervalReadings]
        .sort((a, b) =>
          a.targetTime !== undefined && b.targetTime !== undefined
            ? byInstant(a.targetTime, b.targetTime)
            : byInstant(a.timePeriodStart, b.timePeriodStart),
        )
        .map((source): Reading => {
          const target =
            source.targetTime ??
            (this.measurementPeriod > 0
              ? alignToGrid(source.timePeriodStart, this.measurementPeriod, 3)
              : source.timePeriodStart);
          return {
            value: source.value,
            target,
            usable: isUsableStatus(source.statusPTB, source.statusFNNAsPTB),
            source,
          };
        });
      const byWall = new Map<number, Reading>();
      for (const reading of readings) {
        if (!byWall.has(reading.target.wall)) byWall.set(reading.target.wall, reading);
      }
      const start = block.intervalStart;
      const aligned = alignToGrid(start, 900, 1);
      const duration = block.intervalDuration * SECOND;
      return {
        startWall: start.wall,
        endWall: timestampOfInstant(start.instant + duration).wall,
        alignedStartWall: aligned.wall,
        alignedEndWall: timestampOfInstant(aligned.instant + duration).wall,
        readings,
        byWall,
      };
    });
  }

  /** The reading whose target time has this local clock time, if any. */
  at(wall: number): Reading | undefined {
    const block = this.blocks.find(
      (b) =>
        (wall >= b.startWall && wall <= b.endWall) ||
        (wall >= b.alignedStartWall && wall <= b.alignedEndWall),
    );
    return block?.byWall.get(wall);
  }

  /** First reading in time order whose clock time lies within [fromWall, toWall]. */
  firstWithin(fromWall: number, toWall: number): Reading | undefined {
    for (const block of this.blocks) {
      const found = block.readings.find(
        (r) => r.target.wall >= fromWall && r.target.wall <= toWall,
      );
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Last reading in time order whose clock time lies within [fromWall, toWall]. */
  lastWithin(fromWall: number, toWall: number): Reading | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const readings = (this.blocks[i] as Block).readings;
      for (let j = readings.length - 1; j >= 0; j--) {
        const r = readings[j] as Reading;
        if (r.target.wall >= fromWall && r.target.wall <= toWall) return r;
      }
    }
    return undefined;
  }
}
