// The error classes of the secure store. Every error is a SecureStoreError with a `code` a
// caller can switch on; the message says what and where.

export type SecureStoreErrorCode =
  /** The input is not acceptable: wrong schema, bad name, bad time, bad cursor. */
  | "bad-input"
  /** A record is larger than the store accepts. */
  | "too-large"
  /** The domain is not one of the known domains. */
  | "unknown-domain"
  /** The disk or the store's page quota is full; nothing of the write was stored. */
  | "full"
  /** The store failed verification and is quarantined: every read and write is refused. */
  | "quarantined"
  /** The key service refused or failed (wrap, unwrap, counter). */
  | "key-service"
  /** The store is closed. */
  | "closed"
  /** The operation failed in SQLite or the file system for a reason not listed above. */
  | "io";

export class SecureStoreError extends Error {
  override readonly name: string = "SecureStoreError";
  readonly code: SecureStoreErrorCode;
  constructor(code: SecureStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Bad input: the message names the field and why. Nothing was stored. */
export class BadInputError extends SecureStoreError {
  override readonly name: string = "BadInputError";
  constructor(message: string) {
    super("bad-input", message);
  }
}

export class RecordTooLargeError extends SecureStoreError {
  override readonly name = "RecordTooLargeError";
  constructor(message: string) {
    super("too-large", message);
  }
}

export class UnknownDomainError extends SecureStoreError {
  override readonly name = "UnknownDomainError";
  readonly domain: string;
  constructor(domain: string, known: readonly string[]) {
    super(
      "unknown-domain",
      `unknown domain ${JSON.stringify(domain)} (known: ${known.join(", ")})`,
    );
    this.domain = domain;
  }
}

/** The disk (or the configured page quota) is full. The write was rolled back. */
export class StorageFullError extends SecureStoreError {
  override readonly name = "StorageFullError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("full", message, options);
  }
}

/** A kind of integrity problem found by verification. */
export type ProblemCode =
  /** SQLite cannot open or read the file (header or b-tree damaged). */
  | "unreadable"
  /** The file is not a secure store, or its schema was altered. */
  | "not-a-store"
  /** The file belongs to another domain or store. */
  | "wrong-store"
  /** A data key does not unwrap: wrong domain or key service, or the key record was altered. */
  | "key-unwrap"
  /** The anchor's HMAC does not verify: the anchor, the keys or the store identity was altered. */
  | "anchor"
  /** The checkpoints do not chain up to the anchored head. */
  | "head"
  /** The records of a segment do not hash to its checkpoint: altered, reordered or replaced. */
  | "segment"
  /** A record in the middle of the chain is missing. */
  | "missing-record"
  /** A record lies beyond the anchored head (injected or replayed). */
  | "extra-record"
  /** A record does not decrypt: altered, moved to another row, store or domain. */
  | "record"
  /** The store's counter is behind the key service's counter: an old copy was put back. */
  | "rolled-back"
  /** The key service's counter is behind the store by more than one commit. */
  | "counter-behind"
  /** SQLite's own consistency check (indexes against tables) failed. */
  | "sqlite-check"
  /** The store file is missing although its counter says it was written. */
  | "missing-file"
  /** The store was quarantined earlier and is still marked. */
  | "marked";

export interface Problem {
  code: ProblemCode;
  message: string;
}

export function describeProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.code}: ${p.message}`).join("; ");
}

/** Every read and write of a quarantined store fails with this error, naming the problems. */
export class QuarantinedError extends SecureStoreError {
  override readonly name = "QuarantinedError";
  readonly store: string;
  readonly problems: readonly Problem[];
  constructor(store: string, problems: readonly Problem[]) {
    super("quarantined", `store ${store} is quarantined: ${describeProblems(problems)}`);
    this.store = store;
    this.problems = problems;
  }
}

export class KeyServiceError extends SecureStoreError {
  override readonly name = "KeyServiceError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("key-service", message, options);
  }
}

export class StoreClosedError extends SecureStoreError {
  override readonly name = "StoreClosedError";
  constructor(store: string) {
    super("closed", `store ${store} is closed`);
  }
}

/** A value does not fit its schema; `path` is the JSON pointer of the first offending field. */
export class SchemaError extends BadInputError {
  override readonly name = "SchemaError";
  readonly path: string;
  constructor(what: string, path: string, detail: string) {
    super(`${what}${path}: ${detail}`);
    this.path = path;
  }
}
