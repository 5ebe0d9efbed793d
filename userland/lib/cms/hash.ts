import { createHash } from "node:crypto";
import type { DigestName } from "./oids.ts";

/** The SHA-2 digest of `data` (node:crypto: BoringSSL has these, unlike brainpool). */
export function hash(digest: DigestName, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(digest).update(data).digest());
}
