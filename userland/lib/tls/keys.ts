// Where a private key comes from. The TLS code hands OpenSSL a reference (a file path or an
// OSSL_STORE URI) or a signing callback and never sees key bytes, so the crypto manager can
// supply a key held by a provider or a security module through the same interface.

import type { Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { type CallbackKeySource, useCallbackKey } from "./callback-key.ts";
import { TlsError } from "./errors.ts";
import {
  countAllocation,
  cString,
  freePkey,
  lib,
  OSSL_STORE_INFO_PKEY,
  SSL_FILETYPE_PEM,
  takeErrors,
} from "./ffi.ts";

export type KeySource =
  /** A PEM private key file, not encrypted. */
  | { readonly kind: "file"; readonly path: string }
  /**
   * An OSSL_STORE URI ("file:...", or a provider's scheme such as "handle:0x81000001" for
   * tpm2-openssl or "pkcs11:..."). `providers` are loaded first (the default provider is kept).
   */
  | { readonly kind: "store"; readonly uri: string; readonly providers?: readonly string[] }
  /**
   * Only the public key is here; each ECDSA signature is made by `sign` (e.g. by the crypto
   * manager's security module). See callback-key.ts.
   */
  | CallbackKeySource;

const loadedProviders = new Set<string>();

function loadProvider(name: string): void {
  if (loadedProviders.has(name)) return;
  const handle = lib().OSSL_PROVIDER_load(null, cString(name));
  if (!handle) {
    const { lines, reason } = takeErrors();
    throw new TlsError(
      "config",
      `OpenSSL provider "${name}" could not be loaded${reason ? `: ${reason}` : ""}`,
      {
        openssl: lines,
      },
    );
  }
  // Providers stay loaded for the life of the process, like the default one.
  loadedProviders.add(name);
}

function loadStoreKey(uri: string): Pointer {
  const l = lib();
  const store = l.OSSL_STORE_open(cString(uri), null, null, null, null) as Pointer | null;
  if (!store) {
    const { lines, reason } = takeErrors();
    throw new TlsError(
      "config",
      `key store "${uri}" could not be opened${reason ? `: ${reason}` : ""}`,
      {
        openssl: lines,
      },
    );
  }
  try {
    l.OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY);
    while (l.OSSL_STORE_eof(store) === 0) {
      const info = l.OSSL_STORE_load(store) as Pointer | null;
      if (!info) continue;
      try {
        if (l.OSSL_STORE_INFO_get_type(info) === OSSL_STORE_INFO_PKEY) {
          const pkey = l.OSSL_STORE_INFO_get1_PKEY(info) as Pointer | null;
          if (pkey) {
            countAllocation("EVP_PKEY");
            return pkey;
          }
        }
      } finally {
        l.OSSL_STORE_INFO_free(info);
      }
    }
  } finally {
    l.OSSL_STORE_close(store);
  }
  const { lines } = takeErrors();
  throw new TlsError("config", `key store "${uri}" holds no private key`, { openssl: lines });
}

/** Installs the key of `source` into the SSL_CTX. */
export function useKey(ctx: Pointer, source: KeySource): void {
  const l = lib();
  if (source.kind === "file") {
    if (!existsSync(source.path)) {
      throw new TlsError("config", `private key file not found: ${source.path}`);
    }
    if (l.SSL_CTX_use_PrivateKey_file(ctx, cString(source.path), SSL_FILETYPE_PEM) !== 1) {
      const { lines, reason } = takeErrors();
      throw new TlsError(
        "config",
        `private key ${source.path} not usable${reason ? `: ${reason}` : ""}`,
        {
          openssl: lines,
        },
      );
    }
    return;
  }
  if (source.kind === "store") {
    if (source.providers && source.providers.length > 0) {
      // Loading any provider explicitly stops the default one from loading implicitly.
      loadProvider("default");
      for (const name of source.providers) loadProvider(name);
    }
    const pkey = loadStoreKey(source.uri);
    try {
      if (l.SSL_CTX_use_PrivateKey(ctx, pkey) !== 1) {
        const { lines, reason } = takeErrors();
        throw new TlsError(
          "config",
          `key from "${source.uri}" not usable${reason ? `: ${reason}` : ""}`,
          {
            openssl: lines,
          },
        );
      }
    } finally {
      freePkey(pkey); // the SSL_CTX holds its own reference
    }
    return;
  }
  if (source.kind === "callback") {
    useCallbackKey(ctx, source);
    return;
  }
  throw new TlsError(
    "config",
    `unknown key source kind ${JSON.stringify((source as { kind: unknown }).kind)}`,
  );
}
