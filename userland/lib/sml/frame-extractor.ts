/**
 * Streaming extraction of transport version 1 frames from a byte stream (serial line, TCP):
 * feed chunks of any size, get whole frames out. Garbage before a start sequence is skipped,
 * a broken frame is reported and the scan resynchronises on the next start sequence. Buffered
 * bytes never exceed maxFrameBytes plus one input slice.
 */

import { SmlError } from "./errors.ts";
import {
  END_MARKER,
  hex2,
  isEscapeAt,
  isStartAt,
  type TransportFrame,
  unwrapFrameAt,
} from "./transport.ts";

export interface ExtractedFrame extends TransportFrame {
  /** The frame as received, start to end sequence (a copy). */
  raw: Uint8Array;
  /** Stream offset of the first byte of the start sequence. */
  offset: number;
}

export type ExtractResult = { ok: true; frame: ExtractedFrame } | { ok: false; error: SmlError };

export interface FrameExtractorOptions {
  /** Largest frame accepted, escape bytes included (default 64 KiB). */
  maxFrameBytes?: number;
  /** Check the frame CRC (default true). */
  checkCrc?: boolean;
}

export interface FrameExtractorStats {
  frames: number;
  errors: number;
  /** Bytes skipped while looking for a start sequence. */
  skippedBytes: number;
}

/** Bytes appended at once; keeps the buffer bound independent of the caller's chunk size. */
const SLICE = 65536;
const DEFAULT_MAX_FRAME = 65536;

export class SmlFrameExtractor {
  readonly maxFrameBytes: number;
  private readonly checkCrc: boolean;
  private buf = new Uint8Array(4096);
  /** buf[head, tail) holds unconsumed bytes; buf[head] is stream offset `base`. */
  private head = 0;
  private tail = 0;
  private base = 0;
  /** True while buf[head] is the first byte of a start sequence. */
  private inFrame = false;
  /** Where the scan for escape sequences resumes, relative to head. */
  private scanPos = 0;
  readonly stats: FrameExtractorStats = { frames: 0, errors: 0, skippedBytes: 0 };

  constructor(options?: FrameExtractorOptions) {
    const max = options?.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    if (!Number.isInteger(max) || max < 16) throw new RangeError("maxFrameBytes must be >= 16");
    this.maxFrameBytes = max;
    this.checkCrc = options?.checkCrc !== false;
  }

  /** Bytes currently held back waiting for more input. */
  get bufferedBytes(): number {
    return this.tail - this.head;
  }

  /** Feeds a chunk; returns the frames and errors completed by it, in stream order. */
  push(chunk: Uint8Array): ExtractResult[] {
    const out: ExtractResult[] = [];
    for (let i = 0; i < chunk.length; i += SLICE) {
      this.append(chunk.subarray(i, Math.min(chunk.length, i + SLICE)));
      this.process(out);
    }
    return out;
  }

  /** Ends the stream: a frame still open is reported as truncated. The extractor is reset. */
  end(): ExtractResult[] {
    const out: ExtractResult[] = [];
    if (this.inFrame) {
      this.fail(out, new SmlError("truncated", this.base, "stream ended inside a frame"));
    }
    this.stats.skippedBytes += this.inFrame ? 0 : this.tail - this.head;
    this.reset();
    return out;
  }

  /** Drops all buffered bytes; stream offsets continue. */
  reset(): void {
    this.base += this.tail - this.head;
    this.head = 0;
    this.tail = 0;
    this.inFrame = false;
    this.scanPos = 0;
  }

  private append(data: Uint8Array): void {
    const used = this.tail - this.head;
    if (this.tail + data.length > this.buf.length) {
      if (used + data.length <= this.buf.length && this.head > 0) {
        this.buf.copyWithin(0, this.head, this.tail);
      } else {
        let cap = this.buf.length;
        while (cap < used + data.length) cap *= 2;
        const next = new Uint8Array(cap);
        next.set(this.buf.subarray(this.head, this.tail));
        this.buf = next;
      }
      this.tail = used;
      this.head = 0;
    }
    this.buf.set(data, this.tail);
    this.tail += data.length;
  }

  /** Consumes n bytes from the front. */
  private drop(n: number): void {
    this.head += n;
    this.base += n;
  }

  private fail(out: ExtractResult[], error: SmlError): void {
    this.stats.errors++;
    out.push({ ok: false, error });
  }

  private process(out: ExtractResult[]): void {
    // A view ending at tail keeps indexOf out of stale bytes behind the data.
    const b = this.buf.subarray(0, this.tail);
    for (;;) {
      if (!this.inFrame) {
        const start = findStart(b, this.head);
        if (start < 0) {
          // Keep up to 7 bytes: they may be the beginning of a start sequence.
          const keep = Math.min(7, this.tail - this.head);
          const skip = this.tail - this.head - keep;
          this.stats.skippedBytes += skip;
          this.drop(skip);
          return;
        }
        this.stats.skippedBytes += start - this.head;
        this.drop(start - this.head);
        this.inFrame = true;
        this.scanPos = 8;
      }
      const h = this.head;
      let pos = h + this.scanPos;
      let next: "wait" | "again" = "wait";
      while (pos < this.tail) {
        const i = b.indexOf(0x1b, pos);
        if (i < 0 || i + 4 > this.tail) {
          pos = i < 0 ? this.tail : i;
          break;
        }
        if (!isEscapeAt(b, i)) {
          pos = i + 1;
          continue;
        }
        if (i + 8 > this.tail) {
          pos = i;
          break;
        }
        const rel = i - h;
        if (rel % 4 !== 0) {
          // An unaligned start sequence means bytes were lost: the open frame cannot end.
          if (isStartAt(b, i)) {
            this.fail(
              out,
              new SmlError("truncated", this.base, "frame broken off by a new start sequence"),
            );
            this.drop(rel);
            this.scanPos = 8;
            next = "again";
            break;
          }
          pos = i + 1;
          continue;
        }
        if (isEscapeAt(b, i + 4)) {
          pos = i + 8;
          continue;
        }
        const marker = b[i + 4] as number;
        if (marker === END_MARKER) {
          this.finishFrame(out, rel);
        } else if (isStartAt(b, i)) {
          this.fail(
            out,
            new SmlError("truncated", this.base, "frame broken off by a new start sequence"),
          );
          this.drop(rel);
          this.scanPos = 8;
          next = "again";
          break;
        } else {
          this.fail(
            out,
            new SmlError(
              "escape",
              this.base + rel,
              `escape sequence followed by unknown ${hex2(marker)}`,
            ),
          );
          // Resume right after the first 1B: a real start sequence may overlap this one.
          this.drop(rel + 1);
          this.inFrame = false;
        }
        next = "again";
        break;
      }
      if (next === "again") continue;
      this.scanPos = pos - h;
      if (this.tail - h > this.maxFrameBytes) {
        this.fail(
          out,
          new SmlError(
            "oversized",
            this.base,
            `frame exceeds ${this.maxFrameBytes} bytes without an end sequence`,
          ),
        );
        // Bytes before scanPos hold no start sequence (it would have ended the frame above).
        this.drop(Math.max(1, Math.min(this.scanPos, this.tail - h)));
        this.inFrame = false;
        continue;
      }
      return;
    }
  }

  /** The end escape sequence is at head+rel; the whole end sequence is buffered. */
  private finishFrame(out: ExtractResult[], rel: number): void {
    const h = this.head;
    const len = rel + 8;
    // A failed frame is dropped only up to its 1A marker: a start sequence may overlap xx yy zz.
    let consumed = rel + 5;
    if (len > this.maxFrameBytes) {
      this.fail(
        out,
        new SmlError("oversized", this.base, `frame of ${len} bytes exceeds ${this.maxFrameBytes}`),
      );
    } else {
      try {
        const frame = unwrapFrameAt(this.buf, h, h + rel, this.base - h, {
          checkCrc: this.checkCrc,
        });
        this.stats.frames++;
        consumed = len;
        out.push({
          ok: true,
          frame: { ...frame, raw: this.buf.slice(h, h + len), offset: this.base },
        });
      } catch (e) {
        if (!(e instanceof SmlError)) throw e;
        this.fail(out, e);
      }
    }
    this.drop(consumed);
    this.inFrame = false;
  }
}

/** Index of the first start sequence in b at or after `from`, or -1. */
function findStart(b: Uint8Array, from: number): number {
  let pos = from;
  for (;;) {
    const i = b.indexOf(0x1b, pos);
    if (i < 0 || i + 8 > b.length) return -1;
    if (isStartAt(b, i)) return i;
    pos = i + 1;
  }
}

/** Splits a complete byte sequence into frames and errors (non-streaming convenience). */
export function extractFrames(bytes: Uint8Array, options?: FrameExtractorOptions): ExtractResult[] {
  const x = new SmlFrameExtractor(options);
  const out = x.push(bytes);
  for (const r of x.end()) out.push(r);
  return out;
}
