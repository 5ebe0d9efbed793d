// The calibration log as the storage unit serves it: the events of a profile's commit go in
// before the commit, and a consumer's reading of the log is one gateway-wide chain filtered to
// what concerns them.
import type { RequestBody, ResponseBody } from "@smgw/ipc";
import type { CalibrationLog, CalibrationLogEntry, ProfileData } from "@smgw/securestore";

/**
 * A profile's commit with its calibration-log events: the events are appended first, so that a
 * commit that fails and is retried may log them twice but never loses them.
 */
export async function commitProfile(
  profiles: ProfileData,
  calibrationLog: CalibrationLog,
  body: RequestBody<"storage.profile-commit">,
): Promise<number[]> {
  for (const e of body.calibration ?? []) await calibrationLog.append(e);
  return profiles.commit(body.profile, body);
}

/** Most entries read through to fill one page of a filtered calibration-log query. */
const SCAN_LIMIT = 20_000;

/**
 * One page of the calibration log's entries that `wanted` keeps. The log is one chain for the
 * whole gateway, so a page is filled by reading on (at most `scanLimit` entries per request);
 * `next` is where the following page starts.
 */
export function scanCalibration(
  log: CalibrationLog,
  q: RequestBody<"storage.calibration-log">,
  wanted: (e: CalibrationLogEntry) => boolean,
  scanLimit = SCAN_LIMIT,
): ResponseBody<"storage.calibration-log"> {
  const limit = q.limit ?? 100;
  const entries: ResponseBody<"storage.calibration-log">["entries"] = [];
  let after = q.after ?? 0;
  let scanned = 0;
  for (;;) {
    const page = log.query({
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
      ...(after > 0 ? { after } : {}),
      limit: Math.min(1000, scanLimit),
    });
    for (const e of page.entries) {
      scanned++;
      after = e.seq;
      if (!wanted(e)) continue;
      entries.push({
        seq: e.seq,
        at: e.ts,
        event: e.event,
        ...(e.meter !== undefined ? { meter: e.meter } : {}),
        detail: e.detail,
      });
      if (entries.length === limit) break;
    }
    if (entries.length === limit) return { entries, next: after };
    if (page.next === undefined || page.entries.length === 0) return { entries };
    if (scanned >= scanLimit) return { entries, next: after };
  }
}
