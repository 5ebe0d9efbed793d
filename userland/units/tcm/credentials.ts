// The TCM's credentials: certificates and trust anchors only, in its state directory. The
// private keys stay in the security module; each signature of a handshake is asked of the crypto
// manager (a callback key of @smgw/tls). Layout of <state>/credentials:
//
//   tls-wan.chain.pem            the gateway's WAN certificate and its sub-CA (key "tls-wan")
//   tls-han.chain.pem            the HAN certificate for the display's TLS (key "tls-han")
//   tls-cls.chain.pem            the HAN certificate of the CLS proxy's TLS (key "tls-cls")
//   anchors/<issuer>.pem         trust anchors, named as the policy's credentials name them
//   anchors/han-clients.pem      optional: anchor for consumers' client certificates
//   crls.pem                     optional: CRLs of the anchors' PKI (then every chain is checked)
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { type TlsProfile, tr03116Profile } from "@smgw/tls";

/** The module keys the TCM signs with (the crypto manager's SIGNING_KEYS for the tcm). */
export type TcmKey = "tls-wan" | "tls-han" | "tls-cls";
export const TCM_KEYS: readonly TcmKey[] = ["tls-wan", "tls-han", "tls-cls"];

export const HAN_CLIENTS_ANCHOR = "han-clients";

export interface CredentialLayout {
  readonly dir: string;
  chain(key: TcmKey): string;
  anchor(issuer: string): string;
  readonly crls: string;
}

export function credentialLayout(stateDir: string): CredentialLayout {
  const dir = path.join(stateDir, "credentials");
  return {
    dir,
    chain: (key) => path.join(dir, `${key}.chain.pem`),
    anchor: (issuer) => path.join(dir, "anchors", `${issuer}.pem`),
    crls: path.join(dir, "crls.pem"),
  };
}

/** CRLs when the file is there. */
export function crlsOf(layout: CredentialLayout): string | undefined {
  return existsSync(layout.crls) ? layout.crls : undefined;
}

/** Files below `dir` that hold a private key (the TCM must have none). Unreadable files count. */
export function filesWithPrivateKeys(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4 || !existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      const st = statSync(file);
      if (st.isDirectory()) walk(file, depth + 1);
      else if (st.isFile() && st.size < 1 << 20) {
        let text: string;
        try {
          text = readFileSync(file, "latin1");
        } catch {
          found.push(`${file} (unreadable)`);
          continue;
        }
        if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push(file);
      }
    }
  };
  walk(dir, 0);
  return found;
}

// ECDSA with SHA-512 is part of the TR-03116-3 list, but crypto.sign offers SHA-256 and
// SHA-384 only; peers then choose one of those for the signatures they ask of us.
const UNSIGNABLE = /SHA512|sha512/;

/** The TR-03116-3 profile, signature algorithms cut to what the crypto manager signs. */
export function tcmProfile(options: { mutualAuthentication?: boolean } = {}): TlsProfile {
  const base = tr03116Profile(
    options.mutualAuthentication === undefined
      ? {}
      : { mutualAuthentication: options.mutualAuthentication },
  );
  return {
    ...base,
    signatureAlgorithms: base.signatureAlgorithms.filter((a) => !UNSIGNABLE.test(a)),
  };
}
