/**
 * Reassembly of fragmented messages (AFL, EN 13757-7 / OMS vol. 2). A long message (TPL and
 * APL) is sent in consecutive telegrams of one meter; each carries an AFL whose fragmentation
 * control field holds the fragment id (1 for the first fragment, counting up, never rolling
 * over) and the "more fragments" bit. Only the first fragment carries the optional AFL fields:
 * message control, key information, message counter, MAC and the message length AFL.ML (the
 * number of bytes of the whole message after the AFL). The whole message is decoded once it is
 * complete, with the first fragment's link layer and AFL (decodeReassembled): the mode 7 MAC
 * covers MCL, counter, ML and the whole message.
 *
 * Pure: no I/O, no clock of its own (the caller passes the time in milliseconds).
 */
import { FCL_FIELDS } from "./afl.ts";
import type { AflFragment, MessageLayers } from "./decode.ts";
import { WmbusError } from "./errors.ts";
import type { LinkLayer } from "./types.ts";

/** Why a fragment was refused (AflFragmentError.reason). */
export type FragmentRefusal =
  | "fragment-id" // fragment id 0 in a fragment (0 is for unfragmented messages)
  | "no-first-fragment" // a later fragment without the message's first fragment
  | "missing-fragment" // a gap in the fragment ids: the message is given up
  | "out-of-order" // a fragment id already passed, with other content: the message is given up
  | "duplicate" // the same fragment again: refused, the message goes on
  | "no-message-length" // a first fragment without AFL.ML
  | "later-fragment-fields" // MCL, KI, counter, MAC or ML in a fragment after the first
  | "too-large" // AFL.ML above the reassembler's maximum message size
  | "length-mismatch" // the fragments' data does not add up to AFL.ML
  | "too-many-fragments" // more fragments than the reassembler takes for one message
  | "too-many-meters" // partial messages of too many meters at once
  | "timeout" // the meter's partial message timed out before this fragment came
  | "no-address"; // the link layer names no meter

/** A refused fragment. `dropped` is the partial message given up because of it, if any. */
export class AflFragmentError extends WmbusError {
  readonly reason: FragmentRefusal;
  readonly dropped: PartialMessage | undefined;

  constructor(
    reason: FragmentRefusal,
    message: string,
    options: { offset?: number; dropped?: PartialMessage } = {},
  ) {
    super("fragment", message, options.offset === undefined ? {} : { offset: options.offset });
    this.name = "AflFragmentError";
    this.reason = reason;
    this.dropped = options.dropped;
  }
}

export interface AflReassemblerOptions {
  /** Largest message (AFL.ML) taken, in bytes. Default 16 KiB. */
  maxMessageBytes?: number;
  /** Most fragments of one message. Default 128, at most 255 (the fragment id never rolls over). */
  maxFragments?: number;
  /** Most meters with a partial message at a time. Default 64. */
  maxMeters?: number;
  /** A partial message is dropped this many milliseconds after its first fragment. Default 60 s. */
  timeoutMs?: number;
  /**
   * Told of partial messages given up without a refused fragment to report it: timed out, or
   * superseded by the same meter's next first fragment.
   */
  onDrop?: (dropped: DroppedMessage) => void;
}

export const AFL_REASSEMBLY_DEFAULTS = {
  maxMessageBytes: 16 * 1024,
  maxFragments: 128,
  maxMeters: 64,
  timeoutMs: 60_000,
} as const;

/** The largest fragment id: fragment ids never roll over. */
const MAX_FRAGMENT_ID = 255;

/** A message still waiting for fragments. */
export interface PartialMessage {
  /** The meter: manufacturer, id, version and device type of the link layer. */
  key: string;
  /** Fragments received so far (the last one has id `fragments`). */
  fragments: number;
  /** Bytes of the message received so far. */
  bytes: number;
  /** AFL.ML of the first fragment. */
  messageLength: number;
  /** Time of the first fragment. */
  startedAt: number;
}

export interface DroppedMessage extends PartialMessage {
  reason: "timeout" | "superseded";
  at: number;
}

/** A whole message, ready for decodeReassembled. */
export interface ReassembledMessage extends MessageLayers {
  key: string;
  messageLength: number;
  startedAt: number;
  completedAt: number;
  /** Every fragment in order (their `frame`s e.g. for replay checks). */
  parts: AflFragment[];
}

export type ReassemblyResult =
  | {
      status: "held";
      key: string;
      fragmentId: number;
      /** Fragments held for this message so far. */
      fragments: number;
      bytes: number;
      messageLength: number;
    }
  | { status: "complete"; message: ReassembledMessage };

interface Partial {
  key: string;
  parts: AflFragment[];
  bytes: number;
  messageLength: number;
  startedAt: number;
}

/** The reassembly key of a meter: manufacturer, id, version and device type of the link layer. */
export function fragmentKey(link: LinkLayer): string | undefined {
  if (!link.manufacturer || !link.id) return undefined;
  return `${link.manufacturer}:${link.id}:${link.version ?? "-"}:${link.deviceType ?? "-"}`;
}

/**
 * Collects the fragments of each meter's message (see the module comment). `push` takes one
 * fragment (from decodeFrame) and either holds it or returns the complete message; a fragment
 * that does not fit is refused with an AflFragmentError (kind "fragment", `reason` says why).
 * Refusals are strict: a gap or a fragment out of order gives the partial message up; an exact
 * repeat of a fragment already held is refused and the message goes on. A good message after
 * bad fragments always comes through: a first fragment starts a new message.
 */
export class AflReassembler {
  readonly maxMessageBytes: number;
  readonly maxFragments: number;
  readonly maxMeters: number;
  readonly timeoutMs: number;
  private readonly onDrop: ((dropped: DroppedMessage) => void) | undefined;
  private readonly partials = new Map<string, Partial>();
  /** Meters whose partial message timed out, and when: a late fragment is named a timeout. */
  private readonly timedOut = new Map<string, number>();

  constructor(options: AflReassemblerOptions = {}) {
    this.maxMessageBytes = positive(
      options.maxMessageBytes ?? AFL_REASSEMBLY_DEFAULTS.maxMessageBytes,
      "maxMessageBytes",
      0xffff,
    );
    this.maxFragments = positive(
      options.maxFragments ?? AFL_REASSEMBLY_DEFAULTS.maxFragments,
      "maxFragments",
      MAX_FRAGMENT_ID,
    );
    this.maxMeters = positive(
      options.maxMeters ?? AFL_REASSEMBLY_DEFAULTS.maxMeters,
      "maxMeters",
      Number.MAX_SAFE_INTEGER,
    );
    this.timeoutMs = positive(
      options.timeoutMs ?? AFL_REASSEMBLY_DEFAULTS.timeoutMs,
      "timeoutMs",
      Number.MAX_SAFE_INTEGER,
    );
    this.onDrop = options.onDrop;
  }

  /** Partial messages now held. */
  get size(): number {
    return this.partials.size;
  }

  /** The partial messages now held. */
  pending(): PartialMessage[] {
    return [...this.partials.values()].map(info);
  }

  /** Drops the partial messages that timed out by `now` (onDrop is told of each). */
  expire(now: number): DroppedMessage[] {
    const dropped: DroppedMessage[] = [];
    for (const partial of [...this.partials.values()]) {
      if (this.isExpired(partial, now)) dropped.push(this.timeOut(partial, now));
    }
    for (const [key, at] of this.timedOut) {
      if (now - at > this.timeoutMs || now < at) this.timedOut.delete(key);
    }
    return dropped;
  }

  /** Forgets everything held. */
  clear(): void {
    this.partials.clear();
    this.timedOut.clear();
  }

  /**
   * Takes one fragment received at `now` (milliseconds). Returns "held" while the message is
   * incomplete, "complete" with the whole message after its last fragment. Throws
   * AflFragmentError for a fragment that is refused.
   */
  push(fragment: AflFragment, now: number): ReassemblyResult {
    const offset = fragment.dataOffset - 1 - fragment.afl.length; // the AFL length field
    const key = fragmentKey(fragment.link);
    if (key === undefined) {
      throw new AflFragmentError("no-address", "AFL fragment without a meter address", { offset });
    }
    this.expire(now);
    const afl = fragment.afl;
    const id = afl.fragmentId;
    const more = afl.moreFragments;
    const what = `AFL fragment ${id}${more ? "" : " (last)"} of ${key}`;
    let partial = this.partials.get(key);

    if (id === 0) {
      throw new AflFragmentError(
        "fragment-id",
        `${what}: fragment id 0 is for unfragmented messages, a fragmented one counts from 1`,
        { offset },
      );
    }

    if (id === 1) {
      if (partial) {
        const first = partial.parts[0];
        if (first && sameFragment(first, fragment)) {
          throw new AflFragmentError(
            "duplicate",
            `${what}: repeats the first fragment already held`,
            { offset },
          );
        }
        // The meter has begun its next message: the unfinished one is given up.
        this.partials.delete(key);
        this.onDrop?.({ ...info(partial), reason: "superseded", at: now });
        partial = undefined;
      }
      const length = afl.messageLength;
      if (length === undefined) {
        throw new AflFragmentError(
          "no-message-length",
          `${what}: the first fragment carries no message length (AFL.ML)`,
          { offset },
        );
      }
      if (length > this.maxMessageBytes) {
        throw new AflFragmentError(
          "too-large",
          `${what}: message of ${length} bytes (AFL.ML), at most ${this.maxMessageBytes} taken`,
          { offset },
        );
      }
      if (fragment.data.length > length) {
        throw new AflFragmentError(
          "length-mismatch",
          `${what}: ${fragment.data.length} bytes, more than the message length ${length} (AFL.ML)`,
          { offset },
        );
      }
      if (this.partials.size >= this.maxMeters) {
        throw new AflFragmentError(
          "too-many-meters",
          `${what}: partial messages of ${this.partials.size} meters are held already (at most ${this.maxMeters})`,
          { offset },
        );
      }
      this.timedOut.delete(key);
      const fresh: Partial = {
        key,
        parts: [own(fragment)],
        bytes: fragment.data.length,
        messageLength: length,
        startedAt: now,
      };
      return this.afterAppend(fresh, more, now, what, offset);
    }

    if (!partial) {
      const at = this.timedOut.get(key);
      if (at !== undefined) {
        throw new AflFragmentError(
          "timeout",
          `${what}: the meter's partial message timed out (${this.timeoutMs} ms after its first fragment)`,
          { offset },
        );
      }
      throw new AflFragmentError(
        "no-first-fragment",
        `${what}: no partial message of this meter (its first fragment is missing)`,
        { offset },
      );
    }
    const last = partial.parts.length;
    if (id <= last) {
      const earlier = partial.parts[id - 1];
      if (earlier && sameFragment(earlier, fragment)) {
        throw new AflFragmentError("duplicate", `${what}: repeats a fragment already held`, {
          offset,
        });
      }
      throw this.giveUp(
        partial,
        "out-of-order",
        `${what}: fragment ${last + 1} expected; the partial message is dropped`,
        offset,
      );
    }
    if (id > last + 1) {
      const missing = id === last + 2 ? `${last + 1}` : `${last + 1} to ${id - 1}`;
      throw this.giveUp(
        partial,
        "missing-fragment",
        `${what}: fragment ${missing} missing; the partial message is dropped`,
        offset,
      );
    }
    if (afl.fragmentControl & FCL_FIELDS) {
      throw this.giveUp(
        partial,
        "later-fragment-fields",
        `${what}: only the first fragment may carry message control, key information, ` +
          "counter, MAC or message length; the partial message is dropped",
        offset,
      );
    }
    if (id > this.maxFragments) {
      throw this.giveUp(
        partial,
        "too-many-fragments",
        `${what}: more than ${this.maxFragments} fragments; the partial message is dropped`,
        offset,
      );
    }
    const bytes = partial.bytes + fragment.data.length;
    if (bytes > partial.messageLength) {
      throw this.giveUp(
        partial,
        "length-mismatch",
        `${what}: ${bytes} bytes so far, more than the message length ${partial.messageLength} ` +
          "(AFL.ML); the partial message is dropped",
        offset,
      );
    }
    partial.parts.push(own(fragment));
    partial.bytes = bytes;
    return this.afterAppend(partial, more, now, what, offset);
  }

  private afterAppend(
    partial: Partial,
    more: boolean,
    now: number,
    what: string,
    offset: number,
  ): ReassemblyResult {
    if (more) {
      this.partials.set(partial.key, partial);
      return {
        status: "held",
        key: partial.key,
        fragmentId: partial.parts.length,
        fragments: partial.parts.length,
        bytes: partial.bytes,
        messageLength: partial.messageLength,
      };
    }
    this.partials.delete(partial.key);
    if (partial.bytes !== partial.messageLength) {
      throw new AflFragmentError(
        "length-mismatch",
        `${what}: the message ends after ${partial.bytes} bytes, its message length (AFL.ML) is ` +
          `${partial.messageLength}`,
        { offset, dropped: info(partial) },
      );
    }
    const data = new Uint8Array(partial.bytes);
    let at = 0;
    for (const part of partial.parts) {
      data.set(part.data, at);
      at += part.data.length;
    }
    const first = partial.parts[0] as AflFragment;
    return {
      status: "complete",
      message: {
        key: partial.key,
        first,
        data,
        fragments: partial.parts.length,
        parts: partial.parts,
        messageLength: partial.messageLength,
        startedAt: partial.startedAt,
        completedAt: now,
      },
    };
  }

  private giveUp(
    partial: Partial,
    reason: FragmentRefusal,
    message: string,
    offset: number,
  ): AflFragmentError {
    this.partials.delete(partial.key);
    return new AflFragmentError(reason, message, { offset, dropped: info(partial) });
  }

  private isExpired(partial: Partial, now: number): boolean {
    const elapsed = now - partial.startedAt;
    // A clock that went back also ends the wait: the partial message's age is unknown.
    return elapsed > this.timeoutMs || elapsed < 0;
  }

  private timeOut(partial: Partial, now: number): DroppedMessage {
    this.partials.delete(partial.key);
    this.timedOut.delete(partial.key);
    this.timedOut.set(partial.key, now);
    // Remembered for as many meters as may hold partial messages.
    if (this.timedOut.size > this.maxMeters) {
      const oldest = this.timedOut.keys().next().value;
      if (oldest !== undefined) this.timedOut.delete(oldest);
    }
    const dropped: DroppedMessage = { ...info(partial), reason: "timeout", at: now };
    this.onDrop?.(dropped);
    return dropped;
  }
}

function info(partial: Partial): PartialMessage {
  return {
    key: partial.key,
    fragments: partial.parts.length,
    bytes: partial.bytes,
    messageLength: partial.messageLength,
    startedAt: partial.startedAt,
  };
}

/** A copy the reassembler owns (the caller's buffers may be reused). */
function own(fragment: AflFragment): AflFragment {
  const fields = fragment.aflFields;
  const aflFields = { ...fields, macHeader: Uint8Array.from(fields.macHeader) };
  if (fields.counterBytes) aflFields.counterBytes = Uint8Array.from(fields.counterBytes);
  if (fields.macBytes) aflFields.macBytes = Uint8Array.from(fields.macBytes);
  return {
    ...fragment,
    aflFields,
    data: Uint8Array.from(fragment.data),
    linkAddress: Uint8Array.from(fragment.linkAddress),
    frame: Uint8Array.from(fragment.frame),
  };
}

function sameFragment(a: AflFragment, b: AflFragment): boolean {
  return (
    a.afl.fragmentControl === b.afl.fragmentControl &&
    a.afl.messageControl === b.afl.messageControl &&
    a.afl.keyInformation === b.afl.keyInformation &&
    a.afl.messageCounter === b.afl.messageCounter &&
    a.afl.messageLength === b.afl.messageLength &&
    a.afl.mac === b.afl.mac &&
    equalBytes(a.data, b.data)
  );
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function positive(value: number, name: string, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`AflReassembler: ${name} must be an integer from 1 to ${max}`);
  }
  return value;
}
