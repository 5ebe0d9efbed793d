// The crypto manager's request handling, apart from the IPC wiring: checks who may use which
// key (a second line behind the IFM's flow rules), turns hex into bytes and module errors
// into IPC errors. Private keys never pass here; only digests, signatures and wrapped keys do.
import type { Logger } from "@smgw/daemon";
import { IpcError, type RequestBody, type ResponseBody } from "@smgw/ipc";
import { type SecurityModule, SecurityModuleError } from "@smgw/secmod";
import type { ProposedRequest, ProposedResponse } from "./contracts-proposed.ts";

/** Which unit may sign with which key. The TCM holds the TLS identities of the gateway. */
export const SIGNING_KEYS: Readonly<Record<string, readonly string[]>> = {
  tcm: ["tls-wan", "tls-han", "tls-cls"],
  // The gateway's signature key (SM-PKI SIG certificate): meter data leaves signed with it.
  meter: ["sign"],
};

/**
 * Keys that wrap a unit's own secrets, by the unit (beside secure storage's domain keys): the
 * meter domain keeps the meters' AES keys wrapped under "meter-keys" and unwraps them at start.
 */
export const UNIT_WRAP_DOMAINS: Readonly<Record<string, readonly string[]>> = {
  meter: ["meter-keys"],
};

/** Digest lengths (bytes) of the algorithms crypto.sign names. */
const DIGEST_BYTES = { "ecdsa-sha256": 32, "ecdsa-sha384": 48 } as const;

/** Secure-storage domains; each has its own storage key "storage-<domain>" in the module. */
export const STORAGE_DOMAINS = [
  "meter",
  "admin",
  "cls",
  "display",
  "system-log",
  "consumer-log",
  "calibration-log",
] as const;

/** Named monotonic counters and the module counter behind each (fixed: never renumber). */
export const COUNTER_NAMES: Readonly<Record<string, number>> = Object.fromEntries(
  STORAGE_DOMAINS.map((d, i) => [`${d}/store`, i]),
);

export interface CryptoServiceStatus {
  securityModule: string;
  lastError?: string;
  operations: number;
  failures: number;
}

export class CryptoService {
  private operations = 0;
  private failures = 0;
  private lastError: string | undefined;
  private lastFailed = false;

  constructor(
    private readonly module: SecurityModule | undefined,
    private readonly log: Logger,
  ) {}

  status(): CryptoServiceStatus {
    return {
      securityModule: this.module?.kind ?? "none",
      operations: this.operations,
      failures: this.failures,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Degraded: no module, or the last operation failed because the module was unreachable. */
  degraded(): boolean {
    return this.module === undefined || this.lastFailed;
  }

  async sign(body: RequestBody<"crypto.sign">, from: string): Promise<ResponseBody<"crypto.sign">> {
    if (!SIGNING_KEYS[from]?.includes(body.key)) {
      throw new IpcError("denied", `${from} may not sign with key ${body.key}`);
    }
    const digest = hexBytes(body.digest, "digest");
    const want = DIGEST_BYTES[body.algorithm];
    if (digest.length !== want) {
      throw new IpcError(
        "invalid-body",
        `${body.algorithm} needs a ${want}-byte digest, got ${digest.length} bytes`,
      );
    }
    const signature = await this.call("sign", { key: body.key, from }, (m) =>
      m.sign(body.key, digest),
    );
    return { signature: Buffer.from(signature).toString("hex") };
  }

  async publicKey(
    body: ProposedRequest<"crypto.public-key">,
  ): Promise<ProposedResponse<"crypto.public-key">> {
    return this.call("public-key", { key: body.key }, async (m) => {
      const pub = await m.publicKey(body.key);
      const cert = await m.certificate(body.key);
      return {
        curve: pub.curve,
        spki: Buffer.from(pub.spki).toString("hex"),
        ...(cert ? { certificate: Buffer.from(cert).toString("hex") } : {}),
      };
    });
  }

  async agree(
    body: ProposedRequest<"crypto.agree">,
    from: string,
  ): Promise<ProposedResponse<"crypto.agree">> {
    if (!SIGNING_KEYS[from]?.includes(body.key)) {
      throw new IpcError("denied", `${from} may not use key ${body.key}`);
    }
    const peer = hexBytes(body.peer, "peer");
    const secret = await this.call("agree", { key: body.key, from }, (m) =>
      m.agree(body.key, peer),
    );
    return { secret: Buffer.from(secret).toString("hex") };
  }

  async random(body: ProposedRequest<"crypto.random">): Promise<ProposedResponse<"crypto.random">> {
    const r = await this.call("random", {}, (m) => m.random(body.length));
    return { random: Buffer.from(r).toString("hex") };
  }

  async wrap(body: RequestBody<"crypto.wrap">, from: string): Promise<ResponseBody<"crypto.wrap">> {
    const key = storageKey(body.domain, from);
    const dataKey = hexBytes(body.dataKey, "dataKey");
    const wrapped = await this.call("wrap", { domain: body.domain }, async (m) => {
      try {
        return await m.wrap(key, dataKey);
      } catch (e) {
        // The domain's storage key is made on its first use, never on unwrap.
        if ((e as SecurityModuleError).code !== "key-not-found") throw e;
        this.log.info("creating the storage key of a domain", { domain: body.domain, key });
        await m.generateStorageKey(key);
        return m.wrap(key, dataKey);
      }
    });
    return { wrapped: Buffer.from(wrapped).toString("hex") };
  }

  async unwrap(
    body: RequestBody<"crypto.unwrap">,
    from: string,
  ): Promise<ResponseBody<"crypto.unwrap">> {
    const key = storageKey(body.domain, from);
    const wrapped = hexBytes(body.wrapped, "wrapped");
    const dataKey = await this.call("unwrap", { domain: body.domain }, (m) =>
      m.unwrap(key, wrapped),
    );
    return { dataKey: Buffer.from(dataKey).toString("hex") };
  }

  async counterRead(
    body: RequestBody<"crypto.counter-read">,
    from: string,
  ): Promise<ResponseBody<"crypto.counter-read">> {
    const n = counterNumber(body.counter, from);
    const v = await this.call("counter-read", { counter: body.counter }, (m) => m.readCounter(n));
    return { value: v.toString() };
  }

  async counterIncrement(
    body: RequestBody<"crypto.counter-increment">,
    from: string,
  ): Promise<ResponseBody<"crypto.counter-increment">> {
    const n = counterNumber(body.counter, from);
    const v = await this.call("counter-increment", { counter: body.counter }, (m) =>
      m.incrementCounter(n),
    );
    return { value: v.toString() };
  }

  /** Run one module operation; module errors become IPC errors with the module's code. */
  private async call<T>(
    op: string,
    fields: Record<string, unknown>,
    f: (m: SecurityModule) => Promise<T>,
  ): Promise<T> {
    const m = this.module;
    if (!m) throw new IpcError("unavailable", "no security module configured (SMGW_SECMOD)");
    this.operations++;
    try {
      const r = await f(m);
      this.lastFailed = false;
      return r;
    } catch (e) {
      this.failures++;
      if (e instanceof SecurityModuleError) {
        this.lastError = e.message;
        this.lastFailed = e.code === "unavailable";
        this.log.warn("security-module operation failed", { op, ...fields, error: e.message });
        throw new IpcError(e.code, e.message);
      }
      this.log.error("security-module operation failed unexpectedly", {
        op,
        ...fields,
        error: (e as Error).message,
      });
      throw e;
    }
  }
}

function hexBytes(hex: string, what: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new IpcError("invalid-body", `${what} is not an even number of lower-case hex digits`);
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

// Secure storage runs in the storage unit; every domain's keys are its to wrap and unwrap.
// A unit's own wrap domain (UNIT_WRAP_DOMAINS) is that unit's only.
function storageKey(domain: string, from: string): string {
  if (UNIT_WRAP_DOMAINS[from]?.includes(domain)) return `wrap-${domain}`;
  if (from !== "storage") throw new IpcError("denied", `${from} may not wrap under ${domain}`);
  if (!(STORAGE_DOMAINS as readonly string[]).includes(domain)) {
    throw new IpcError("invalid-body", `unknown storage domain ${domain}`);
  }
  return `storage-${domain}`;
}

function counterNumber(name: string, from: string): number {
  if (from !== "storage") throw new IpcError("denied", "only the storage unit uses counters");
  const n = COUNTER_NAMES[name];
  if (n === undefined || !Object.hasOwn(COUNTER_NAMES, name)) {
    throw new IpcError("invalid-body", `unknown counter ${name}`);
  }
  return n;
}
