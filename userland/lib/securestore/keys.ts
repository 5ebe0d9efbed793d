// Key handling behind an interface. The crypto manager (security module) implements KeyService
// for production; SoftwareKeyService is for development and tests only.

import { randomBytes, webcrypto } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { deriveKey, hmacSha256, macEqual } from "./codec.ts";
import { KeyServiceError } from "./errors.ts";

/**
 * What the secure store needs from the crypto manager. Data keys never leave the store's
 * process unwrapped except through these calls; counters are monotonic and survive power cuts.
 */
export interface KeyService {
  /** Wrap a data key so that only `unwrap` with the same domain gives it back. */
  wrap(domain: string, dataKey: Uint8Array): Promise<Uint8Array>;
  /** Unwrap a data key; rejects when the wrapped key was made for another domain or altered. */
  unwrap(domain: string, wrapped: Uint8Array): Promise<Uint8Array>;
  /** The current value of a monotonic counter (0n if it was never incremented). */
  counter(name: string): Promise<bigint>;
  /** Increment a monotonic counter durably and return the new value. */
  increment(name: string): Promise<bigint>;
}

export interface WarnLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

const stderrLogger: WarnLogger = {
  warn: (msg, fields) =>
    process.stderr.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: "warn", msg, ...fields })}\n`,
    ),
};

export interface SoftwareKeyServiceOptions {
  /** 32-byte master key. */
  masterKey: Uint8Array;
  /** File holding the counters; written atomically with fsync on every increment. */
  counterFile: string;
  /** Where the development-only warning goes (stderr as a JSON line by default). */
  log?: WarnLogger;
}

const WRAP_VERSION = 1;
const COUNTER_FORMAT = 1;
const DOMAIN_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * DEVELOPMENT ONLY. Wraps data keys with AES-256-KW (RFC 3394) under a key derived from a
 * master key held in a file, and keeps the monotonic counters in a file of its own. Anyone who
 * can read the master key file can unwrap every data key, and anyone who can put back an old
 * counter file together with old store files defeats the rollback check; a security module
 * keeps both inside the module. Constructing one logs a warning.
 */
export class SoftwareKeyService implements KeyService {
  private readonly master: Buffer;
  private readonly counterFile: string;
  private readonly counters: Map<string, bigint>;
  private readonly keks = new Map<string, Promise<CryptoKey>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: SoftwareKeyServiceOptions) {
    if (options.masterKey.length !== 32) {
      throw new KeyServiceError(`master key must be 32 bytes, got ${options.masterKey.length}`);
    }
    this.master = Buffer.from(options.masterKey);
    this.counterFile = options.counterFile;
    this.counters = this.loadCounters();
    (options.log ?? stderrLogger).warn(
      "SoftwareKeyService is for development only: the master key is a file, not a security module",
      { counterFile: this.counterFile },
    );
  }

  /**
   * Read the master key from a file (32 raw bytes, mode 0600), creating it when `create` is set
   * and the file does not exist.
   */
  static fromFiles(options: {
    masterKeyFile: string;
    counterFile: string;
    create?: boolean;
    log?: WarnLogger;
  }): SoftwareKeyService {
    const file = options.masterKeyFile;
    if (!existsSync(file)) {
      if (!options.create) throw new KeyServiceError(`master key file ${file} does not exist`);
      writeDurably(file, randomBytes(32), "wx");
    }
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) {
      throw new KeyServiceError(
        `master key file ${file} is readable by others (mode ${mode.toString(8)}); it must be 0600`,
      );
    }
    const masterKey = readFileSync(file);
    return new SoftwareKeyService({
      masterKey,
      counterFile: options.counterFile,
      ...(options.log ? { log: options.log } : {}),
    });
  }

  async wrap(domain: string, dataKey: Uint8Array): Promise<Uint8Array> {
    checkDomain(domain);
    if (dataKey.length !== 32) throw new KeyServiceError("data keys are 32 bytes");
    const kek = await this.kek(domain);
    const raw = await webcrypto.subtle.importKey("raw", Buffer.from(dataKey), "AES-GCM", true, [
      "encrypt",
    ]);
    const wrapped = new Uint8Array(await webcrypto.subtle.wrapKey("raw", raw, kek, "AES-KW"));
    const out = new Uint8Array(1 + wrapped.length);
    out[0] = WRAP_VERSION;
    out.set(wrapped, 1);
    return out;
  }

  async unwrap(domain: string, wrapped: Uint8Array): Promise<Uint8Array> {
    checkDomain(domain);
    if (wrapped.length !== 41 || wrapped[0] !== WRAP_VERSION) {
      throw new KeyServiceError(`wrapped key for ${domain} has the wrong format`);
    }
    const kek = await this.kek(domain);
    try {
      const key = await webcrypto.subtle.unwrapKey(
        "raw",
        Buffer.from(wrapped.subarray(1)),
        kek,
        "AES-KW",
        "AES-GCM",
        true,
        ["encrypt"],
      );
      return new Uint8Array(await webcrypto.subtle.exportKey("raw", key));
    } catch (e) {
      throw new KeyServiceError(
        `wrapped key does not unwrap for domain ${domain} (wrapped for another domain or altered)`,
        { cause: e },
      );
    }
  }

  async counter(name: string): Promise<bigint> {
    return this.counters.get(name) ?? 0n;
  }

  increment(name: string): Promise<bigint> {
    // Serialised: two increments must not write the file concurrently.
    const next = this.queue.then(() => {
      const value = (this.counters.get(name) ?? 0n) + 1n;
      const copy = new Map(this.counters);
      copy.set(name, value);
      this.saveCounters(copy);
      this.counters.set(name, value);
      return value;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private kek(domain: string): Promise<CryptoKey> {
    let k = this.keks.get(domain);
    if (!k) {
      const bytes = deriveKey(this.master, "smgw software key service", `kek:${domain}`);
      k = webcrypto.subtle.importKey("raw", new Uint8Array(bytes), "AES-KW", false, [
        "wrapKey",
        "unwrapKey",
      ]);
      this.keks.set(domain, k);
    }
    return k;
  }

  private counterMac(body: string): Buffer {
    return hmacSha256(
      deriveKey(this.master, "smgw software key service", "counters"),
      Buffer.from(body),
    );
  }

  private loadCounters(): Map<string, bigint> {
    if (!existsSync(this.counterFile)) return new Map();
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.counterFile, "utf8"));
    } catch (e) {
      throw new KeyServiceError(`counter file ${this.counterFile} is not JSON`, { cause: e });
    }
    const doc = parsed as { format?: unknown; counters?: unknown; mac?: unknown };
    if (
      doc === null ||
      typeof doc !== "object" ||
      doc.format !== COUNTER_FORMAT ||
      typeof doc.counters !== "object" ||
      doc.counters === null ||
      typeof doc.mac !== "string"
    ) {
      throw new KeyServiceError(`counter file ${this.counterFile} has the wrong format`);
    }
    const entries = Object.entries(doc.counters as Record<string, unknown>);
    const map = new Map<string, bigint>();
    for (const [name, v] of entries) {
      if (typeof v !== "string" || !/^\d{1,20}$/.test(v)) {
        throw new KeyServiceError(`counter ${name} in ${this.counterFile} is not a number`);
      }
      map.set(name, BigInt(v));
    }
    if (!macEqual(this.counterMac(canonicalCounters(map)), Buffer.from(doc.mac, "hex"))) {
      throw new KeyServiceError(
        `counter file ${this.counterFile} does not verify under this master key`,
      );
    }
    return map;
  }

  private saveCounters(map: Map<string, bigint>): void {
    const body = canonicalCounters(map);
    const doc = {
      format: COUNTER_FORMAT,
      counters: JSON.parse(body) as Record<string, string>,
      mac: this.counterMac(body).toString("hex"),
    };
    try {
      writeDurably(this.counterFile, Buffer.from(`${JSON.stringify(doc)}\n`), "replace");
    } catch (e) {
      throw new KeyServiceError(`cannot write counter file ${this.counterFile}: ${String(e)}`, {
        cause: e,
      });
    }
  }
}

function canonicalCounters(map: Map<string, bigint>): string {
  const sorted = [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(sorted.map(([k, v]) => [k, v.toString()])));
}

function checkDomain(domain: string): void {
  if (typeof domain !== "string" || !DOMAIN_PATTERN.test(domain)) {
    throw new KeyServiceError(`domain ${JSON.stringify(domain)} is not a domain name`);
  }
}

/**
 * Write a file so that after a crash or power cut either the old or the new content is there:
 * a temporary file, fsync, rename over the target, fsync of the directory. "wx" creates a new
 * file and fails if it exists.
 */
export function writeDurably(file: string, data: Uint8Array, how: "wx" | "replace"): void {
  const dir = path.dirname(file);
  const target = how === "wx" ? file : `${file}.tmp`;
  const fd = openSync(target, how === "wx" ? "wx" : "w", 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (how === "replace") renameSync(target, file);
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
