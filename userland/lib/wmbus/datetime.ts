/**
 * Date and time codings of EN 13757-3 Annex A. Dates come out as ISO 8601 strings in the
 * meter's local time (no offset: the telegram carries none). The 7-bit year counts from 2000.
 * Invalid or impossible values give null.
 */

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

function yearOf(low: number, high: number): number {
  return 2000 + (((low & 0xe0) >> 5) | ((high & 0xf0) >> 1));
}

function validDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

function isoDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** Type G: date, 2 bytes. */
export function decodeTypeG(b: Uint8Array): string | null {
  const b0 = b[0] as number;
  const b1 = b[1] as number;
  const day = b0 & 0x1f;
  const month = b1 & 0x0f;
  const year = yearOf(b0, b1);
  return validDate(year, month, day) ? isoDate(year, month, day) : null;
}

/** Type F: date and time to the minute, 4 bytes; bit 7 of the first byte flags invalid. */
export function decodeTypeF(b: Uint8Array): string | null {
  return (b[0] as number) & 0x80 ? null : typeFFields(b);
}

/** Type F fields without looking at the invalid flag. */
export function typeFFields(b: Uint8Array): string | null {
  const b0 = b[0] as number;
  const b1 = b[1] as number;
  const b2 = b[2] as number;
  const b3 = b[3] as number;
  const minute = b0 & 0x3f;
  const hour = b1 & 0x1f;
  const day = b2 & 0x1f;
  const month = b3 & 0x0f;
  const year = yearOf(b2, b3);
  if (minute > 59 || hour > 23 || !validDate(year, month, day)) return null;
  return `${isoDate(year, month, day)}T${pad(hour)}:${pad(minute)}`;
}

/** Type I: date and time to the second, 6 bytes; bit 7 of the second byte flags invalid. */
export function decodeTypeI(b: Uint8Array): string | null {
  return (b[1] as number) & 0x80 ? null : typeIFields(b);
}

/** Type I fields without looking at the invalid flag. */
export function typeIFields(b: Uint8Array): string | null {
  const b0 = b[0] as number;
  const b1 = b[1] as number;
  const b2 = b[2] as number;
  const b3 = b[3] as number;
  const b4 = b[4] as number;
  const second = b0 & 0x3f;
  const minute = b1 & 0x3f;
  const hour = b2 & 0x1f;
  const day = b3 & 0x1f;
  const month = b4 & 0x0f;
  const year = yearOf(b3, b4);
  if (second > 59 || minute > 59 || hour > 23 || !validDate(year, month, day)) return null;
  return `${isoDate(year, month, day)}T${pad(hour)}:${pad(minute)}:${pad(second)}`;
}

/** Type J: time of day, 3 bytes. */
export function decodeTypeJ(b: Uint8Array): string | null {
  const second = (b[0] as number) & 0x3f;
  const minute = (b[1] as number) & 0x3f;
  const hour = (b[2] as number) & 0x1f;
  if (second > 59 || minute > 59 || hour > 23) return null;
  return `${pad(hour)}:${pad(minute)}:${pad(second)}`;
}

export interface TimePoint {
  value: string | null;
  type: "F" | "G" | "I" | "J";
  /** The invalid flag is set; this holds what the fields would say. */
  flaggedInvalid?: string | null;
}

/** Picks the coding from the data size; undefined when no time coding has that size. */
export function decodeTimePoint(b: Uint8Array): TimePoint | undefined {
  switch (b.length) {
    case 2:
      return { value: decodeTypeG(b), type: "G" };
    case 3:
      return { value: decodeTypeJ(b), type: "J" };
    case 4: {
      const value = decodeTypeF(b);
      return value === null && (b[0] as number) & 0x80
        ? { value, type: "F", flaggedInvalid: typeFFields(b) }
        : { value, type: "F" };
    }
    case 6: {
      const value = decodeTypeI(b);
      return value === null && (b[1] as number) & 0x80
        ? { value, type: "I", flaggedInvalid: typeIFields(b) }
        : { value, type: "I" };
    }
    default:
      return undefined;
  }
}
