// The tariff use cases' data in the meter domain's store: each profile's processing state, the
// registers it computed per meter, and its outbox of deliveries to EMTs. A commit writes the new
// state together with the registers and deliveries it produced (one chained commit of the store),
// so a crash never leaves a delivery without the state that made it, or the reverse: after a
// restart the profile resumes from its last state and its unconfirmed deliveries are sent again.
// A delivery stays in the outbox until the EMT's confirmation is recorded ("outbox-done").

import { Type as T } from "@sinclair/typebox";
import {
  type Delivery,
  DeliverySchema,
  type ProfileRegisters,
  ProfileRegistersSchema,
} from "@smgw/ipc";
import { BadInputError } from "./errors.ts";
import { checker, Name } from "./schema.ts";
import type { DomainStore, NewRecord, StoredRecord } from "./store.ts";

const STATE = "profile-state";
const REGISTERS = "tariff-registers";
const OUTBOX = "outbox";
const DONE = "outbox-done";
/** Older states of a profile are deleted once this many newer ones exist (one commit each). */
const KEEP_STATES = 16;
const MAX_STATE_CHARS = 131072;

const checkProfile = checker(Name);
const checkRegisters = checker(ProfileRegistersSchema);
const checkDelivery = checker(DeliverySchema);
const StoredRegistersSchema = T.Composite([ProfileRegistersSchema, T.Object({ profile: Name })]);
const checkStoredRegisters = checker(StoredRegistersSchema);
const DoneSchema = T.Object(
  { id: T.Integer({ minimum: 1 }), receipt: T.String({ maxLength: 200 }) },
  { additionalProperties: false },
);
const checkDone = checker(DoneSchema);

export interface ProfileCommit {
  state: string;
  registers?: readonly ProfileRegisters[];
  deliveries?: readonly Delivery[];
}

export interface PendingDelivery extends Delivery {
  id: number;
  createdAt: string;
}

/** The profiles' part of the meter domain's store (it shares the domain's chain and counter). */
export class ProfileData {
  private commits = 0;

  constructor(
    private readonly store: DomainStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes the state, the registers and the deliveries in one commit; returns delivery ids. */
  async commit(profile: string, c: ProfileCommit): Promise<number[]> {
    checkProfile.check(profile, "profile");
    if (typeof c.state !== "string" || c.state.length < 2 || c.state.length > MAX_STATE_CHARS) {
      throw new BadInputError(`profile state must be a text of 2 to ${MAX_STATE_CHARS} characters`);
    }
    try {
      JSON.parse(c.state);
    } catch {
      throw new BadInputError("profile state is not JSON");
    }
    const time = this.time(profile);
    const records: NewRecord[] = [
      { stream: STATE, series: profile, time, payload: Buffer.from(c.state, "utf8") },
    ];
    for (const r of c.registers ?? []) {
      checkRegisters.check(r, "registers");
      records.push({
        stream: REGISTERS,
        series: r.meter,
        time,
        payload: Buffer.from(JSON.stringify({ ...r, profile })),
      });
    }
    const deliveries = c.deliveries ?? [];
    for (const d of deliveries) {
      checkDelivery.check(d, "delivery");
      records.push({
        stream: OUTBOX,
        series: profile,
        time,
        payload: Buffer.from(JSON.stringify(d)),
      });
    }
    const { first } = await this.store.append(records);
    // The outbox records are the last ones of the commit, in order.
    const ids = deliveries.map((_, i) => first + records.length - deliveries.length + i);
    if (++this.commits % KEEP_STATES === 0) {
      await this.store.deleteBefore(STATE, profile, time, "superseded profile states");
    }
    return ids;
  }

  /** The profile's last committed state and how many of its deliveries wait for confirmation. */
  load(profile: string): { state?: string; pending: number } {
    checkProfile.check(profile, "profile");
    const last = this.lastOf(STATE, profile);
    const pending = this.pendingIds(profile).length;
    return last ? { state: last.payload.toString("utf8"), pending } : { pending };
  }

  /** The oldest unconfirmed delivery of the profile with an id above `after`. */
  next(profile: string, after = 0): PendingDelivery | undefined {
    checkProfile.check(profile, "profile");
    const id = this.pendingIds(profile).find((i) => i > after);
    if (id === undefined) return undefined;
    const rec = this.store.get(id);
    if (!rec) return undefined;
    const d = checkDelivery.check(JSON.parse(rec.payload.toString("utf8")), "delivery");
    return { ...d, id, createdAt: new Date(rec.time).toISOString() };
  }

  /** A delivery that waits for confirmation; BadInputError when it is not one. */
  pending(profile: string, id: number): Delivery {
    checkProfile.check(profile, "profile");
    if (!this.pendingIds(profile).includes(id)) {
      throw new BadInputError(`delivery ${id} of ${profile} is not waiting for confirmation`);
    }
    const rec = this.store.get(id);
    if (!rec) throw new BadInputError(`delivery ${id} is not in the store`);
    return checkDelivery.check(JSON.parse(rec.payload.toString("utf8")), "delivery");
  }

  /** Records the EMT's confirmation; a delivery is confirmed once (again is an error). */
  async done(profile: string, id: number, receipt: string): Promise<Delivery> {
    const d = this.pending(profile, id);
    await this.store.append([
      {
        stream: DONE,
        series: profile,
        time: this.now(),
        payload: Buffer.from(JSON.stringify(checkDone.check({ id, receipt }, "receipt"))),
      },
    ]);
    return d;
  }

  /** The latest registers of each profile for one meter. */
  registers(meter: string): (ProfileRegisters & { profile: string })[] {
    const byProfile = new Map<string, ProfileRegisters & { profile: string }>();
    for (const rec of this.all(REGISTERS, meter)) {
      const r = checkStoredRegisters.check(JSON.parse(rec.payload.toString("utf8")), "registers");
      byProfile.set(r.profile, r);
    }
    return [...byProfile.values()];
  }

  private pendingIds(profile: string): number[] {
    const done = new Set(
      this.all(DONE, profile).map(
        (r) => checkDone.check(JSON.parse(r.payload.toString("utf8")), "receipt").id,
      ),
    );
    return this.all(OUTBOX, profile)
      .map((r) => r.seq)
      .filter((id) => !done.has(id))
      .sort((a, b) => a - b);
  }

  private lastOf(stream: string, series: string): StoredRecord | undefined {
    const t = this.store.lastTime(stream, series);
    if (t === undefined) return undefined;
    const recs = this.all(stream, series, t);
    return recs.reduce<StoredRecord | undefined>(
      (a, r) => (!a || r.seq > a.seq ? r : a),
      undefined,
    );
  }

  private all(stream: string, series: string, from?: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = this.store.read({
        stream,
        series,
        limit: 1000,
        ...(from !== undefined ? { from } : {}),
        ...(cursor ? { cursor } : {}),
      });
      out.push(...page.records);
      if (!page.next) return out;
      cursor = page.next;
    }
  }

  /** Record times of a profile's states strictly increase, so the newest is unambiguous. */
  private lastTimes = new Map<string, number>();
  private time(profile: string): number {
    const before = this.lastTimes.get(profile) ?? this.store.lastTime(STATE, profile) ?? 0;
    const t = Math.max(this.now(), before + 1);
    this.lastTimes.set(profile, t);
    return t;
  }
}
