// Which security module the crypto manager uses, from its environment:
//   SMGW_SECMOD            card | tpm | software (unset: no security module)
//   SMGW_PRODUCTION        1 in production: the software module is refused
//   SMGW_SECMOD_PIN        card PIN, or SMGW_SECMOD_PIN_FILE naming a file that holds it
//   SMGW_SECMOD_READER     part of the PC/SC reader's name (default: the first reader)
//   SMGW_SECMOD_KEYS       card key slots "name=ref,…" (default: DEFAULT_CARD_SLOTS)
//   SMGW_SECMOD_TCTI       TPM TCTI (default swtpm:host=127.0.0.1,port=2321)
// The TPM's key blobs and the software module's state go under the unit's state directory.
import fs from "node:fs";
import path from "node:path";
import { CardModule, DEFAULT_CARD_SLOTS, parseSlots } from "./card/backend.ts";
import { PcscTransport } from "./card/pcsc.ts";
import type { KeyHandle, SecurityModule } from "./module.ts";
import { createSoftwareModule } from "./software.ts";
import { DEFAULT_TCTI, TpmModule } from "./tpm/backend.ts";

export class SecmodConfigError extends Error {
  override name = "SecmodConfigError";
}

export type SecmodSelection =
  | { backend: "none"; production: boolean }
  | {
      backend: "card";
      production: boolean;
      pin: string;
      reader?: string;
      slots: Readonly<Record<KeyHandle, number>>;
    }
  | { backend: "tpm"; production: boolean; tcti: string; stateDir: string }
  | { backend: "software"; production: boolean; stateFile: string };

export function isProduction(env: Record<string, string | undefined>): boolean {
  const v = env.SMGW_PRODUCTION;
  if (v === undefined || v === "" || v === "0" || v === "false" || v === "no") return false;
  if (v === "1" || v === "true" || v === "yes") return true;
  throw new SecmodConfigError(`SMGW_PRODUCTION must be 1/true/yes or 0/false/no, not "${v}"`);
}

export function readSecmodConfig(
  env: Record<string, string | undefined>,
  stateDir: string,
): SecmodSelection {
  const production = isProduction(env);
  const backend = env.SMGW_SECMOD;
  switch (backend) {
    case undefined:
    case "":
      return { backend: "none", production };
    case "card": {
      const pin = readPin(env);
      let slots: Readonly<Record<KeyHandle, number>> = DEFAULT_CARD_SLOTS;
      if (env.SMGW_SECMOD_KEYS) {
        try {
          slots = parseSlots(env.SMGW_SECMOD_KEYS);
        } catch (e) {
          throw new SecmodConfigError(`SMGW_SECMOD_KEYS: ${(e as Error).message}`);
        }
      }
      return {
        backend: "card",
        production,
        pin,
        slots,
        ...(env.SMGW_SECMOD_READER ? { reader: env.SMGW_SECMOD_READER } : {}),
      };
    }
    case "tpm":
      return {
        backend: "tpm",
        production,
        tcti: env.SMGW_SECMOD_TCTI || DEFAULT_TCTI,
        stateDir: path.join(stateDir, "tpm"),
      };
    case "software":
      if (production) {
        throw new SecmodConfigError(
          "SMGW_SECMOD=software is refused in production (SMGW_PRODUCTION is set)",
        );
      }
      return {
        backend: "software",
        production,
        stateFile: path.join(stateDir, "software-secmod.json"),
      };
  }
  throw new SecmodConfigError(`SMGW_SECMOD must be card, tpm or software, not "${backend}"`);
}

function readPin(env: Record<string, string | undefined>): string {
  let pin = env.SMGW_SECMOD_PIN;
  if (env.SMGW_SECMOD_PIN_FILE) {
    try {
      pin = fs.readFileSync(env.SMGW_SECMOD_PIN_FILE, "utf8").trim();
    } catch (e) {
      throw new SecmodConfigError(`SMGW_SECMOD_PIN_FILE: ${(e as Error).message}`);
    }
  }
  if (!pin) throw new SecmodConfigError("the card needs SMGW_SECMOD_PIN or SMGW_SECMOD_PIN_FILE");
  if (pin.length < 4 || pin.length > 16)
    throw new SecmodConfigError("the card PIN must be 4…16 characters");
  return pin;
}

/** Open the selected module; nothing is contacted until its first call. */
export function openSecurityModule(
  sel: SecmodSelection,
  warn: (msg: string, fields?: Record<string, unknown>) => void,
): SecurityModule | undefined {
  switch (sel.backend) {
    case "none":
      return undefined;
    case "card":
      return new CardModule(new PcscTransport(sel.reader ? { reader: sel.reader } : {}), {
        pin: sel.pin,
        slots: sel.slots,
      });
    case "tpm":
      return new TpmModule({ tcti: sel.tcti, stateDir: sel.stateDir });
    case "software":
      return createSoftwareModule({ stateFile: sel.stateFile, production: sel.production, warn });
  }
}
