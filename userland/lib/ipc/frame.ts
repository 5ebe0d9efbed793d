// Length-framed messages: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
// The decoder never buffers more than one frame's worth plus the limit.

/** Default size limit of one frame's payload (bytes). */
export const DEFAULT_MAX_FRAME = 256 * 1024;

export type FrameResult =
  | { ok: true; value: unknown }
  | { ok: false; error: "malformed-json"; detail: string }
  | { ok: false; error: "oversized"; detail: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeFrame(value: unknown, maxFrame = DEFAULT_MAX_FRAME): Uint8Array {
  const body = encoder.encode(JSON.stringify(value));
  if (body.length > maxFrame) {
    throw new RangeError(`frame of ${body.length} bytes exceeds the limit of ${maxFrame}`);
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/**
 * Incremental decoder. A malformed frame yields an error result and decoding goes on with
 * the next frame; an oversized length cannot be resynchronised, so it yields an error and
 * the decoder stops (the caller closes the connection).
 */
export class FrameDecoder {
  private buf = new Uint8Array(0);
  private broken = false;

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  get failed(): boolean {
    return this.broken;
  }

  push(chunk: Uint8Array): FrameResult[] {
    if (this.broken) return [];
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf, 0);
    joined.set(chunk, this.buf.length);
    const out: FrameResult[] = [];
    let off = 0;
    while (joined.length - off >= 4) {
      const len = new DataView(joined.buffer, joined.byteOffset + off, 4).getUint32(0);
      if (len > this.maxFrame) {
        this.broken = true;
        this.buf = new Uint8Array(0);
        out.push({
          ok: false,
          error: "oversized",
          detail: `frame of ${len} bytes exceeds ${this.maxFrame}`,
        });
        return out;
      }
      if (joined.length - off - 4 < len) break;
      const body = joined.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      try {
        out.push({ ok: true, value: JSON.parse(decoder.decode(body)) });
      } catch (e) {
        out.push({
          ok: false,
          error: "malformed-json",
          detail: (e as Error).message.slice(0, 200),
        });
      }
    }
    this.buf = joined.slice(off);
    return out;
  }
}
