// UTCTime and GeneralizedTime in their DER forms (X.690 11.7, 11.8), as RFC 5652 11.3 uses them
// for signingTime: UTCTime for 1950 to 2049, GeneralizedTime outside. Whole seconds, UTC only.
import { TAG, type Tlv, tlv } from "./der.ts";
import { CmsError } from "./errors.ts";

function digits(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** The DER encoding of `date` (milliseconds dropped) as RFC 5652 chooses it. */
export function encodeTime(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms))
    throw new CmsError("invalid-argument", "signingTime is not a valid date");
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) {
    throw new CmsError("invalid-argument", `signingTime year ${year} is outside 0000-9999`);
  }
  const rest =
    digits(date.getUTCMonth() + 1, 2) +
    digits(date.getUTCDate(), 2) +
    digits(date.getUTCHours(), 2) +
    digits(date.getUTCMinutes(), 2) +
    digits(date.getUTCSeconds(), 2);
  if (year >= 1950 && year < 2050) {
    return tlv(TAG.UTC_TIME, Buffer.from(`${digits(year % 100, 2)}${rest}Z`, "latin1"));
  }
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits(year, 4)}${rest}Z`, "latin1"));
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
// DER: seconds present, fraction without trailing zeros, "Z".
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/;

/** Reads a UTCTime or GeneralizedTime element in DER form. */
export function decodeTime(element: Tlv, path: string): Date {
  const text = Buffer.from(element.value).toString("latin1");
  const fail = (why: string): never => {
    throw new CmsError("malformed", `${why}: ${JSON.stringify(text.slice(0, 32))}`, {
      path,
      offset: element.offset,
    });
  };
  let fields: number[];
  let fraction = "";
  if (element.tag === TAG.UTC_TIME) {
    const m = UTC_TIME.exec(text) ?? fail("UTCTime not in DER form YYMMDDHHMMSSZ");
    fields = m.slice(1, 7).map(Number);
    const yy = fields[0] ?? 0;
    fields[0] = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (element.tag === TAG.GENERALIZED_TIME) {
    const m = GENERALIZED_TIME.exec(text) ?? fail("GeneralizedTime not in DER form");
    fields = m.slice(1, 7).map(Number);
    fraction = m[7] ?? "";
  } else {
    return fail("expected UTCTime or GeneralizedTime");
  }
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = fields;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, "0")));
  // Date rolls invalid fields over (31 April becomes 1 May): compare to catch that.
  const same =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  if (!same) fail("time names no valid instant");
  return date;
}
