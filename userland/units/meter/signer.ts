// Signing of deliveries: CMS SignedData (RFC 5652) over the AR 2418-6 document, signed with the
// gateway's signature key. The key never leaves the security module: the CMS builder asks the
// crypto manager (crypto.sign, key "sign") for the one signature over the signed attributes.
// The certificate chain comes from the meter domain's credentials (written at personalisation).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { signCms } from "@smgw/cms";
import type { IpcClient } from "@smgw/ipc";

export const SIGNATURE_KEY = "sign";

function pemCertificates(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(new Uint8Array(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64")));
  }
  return out;
}

export interface DeliverySigner {
  /** The gateway's name in its signature certificate (CN). */
  readonly gatewayName: string;
  sign(content: Uint8Array): Promise<Uint8Array>;
}

export function loadSigner(chainFile: string, ifm: Pick<IpcClient, "request">): DeliverySigner {
  const chain = pemCertificates(readFileSync(chainFile, "utf8"));
  const [certificate, ...rest] = chain;
  if (!certificate) throw new Error(`${chainFile} holds no certificate`);
  const subject = new X509Certificate(Buffer.from(certificate)).subject;
  const gatewayName = /(?:^|\n)CN=([^\n]+)/.exec(subject)?.[1] ?? "smgw";
  return {
    gatewayName,
    sign: (content) =>
      signCms({
        content,
        certificate,
        chain: rest,
        digest: "sha256",
        sign: async (digest) => {
          const r = await ifm.request("crypto", "crypto.sign", {
            key: SIGNATURE_KEY,
            algorithm: "ecdsa-sha256",
            digest: Buffer.from(digest).toString("hex"),
          });
          return new Uint8Array(Buffer.from(r.signature, "hex"));
        },
      }),
  };
}
