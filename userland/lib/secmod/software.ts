// The software security module, for development only: the project's virtual card run inside
// the calling process, its keys in a file. It is refused in production and announces itself
// with a warning every time it is opened.
import { CardModule } from "./card/backend.ts";
import { DirectTransport } from "./card/transport.ts";
import { RefusedError } from "./module.ts";
import { VirtualCard } from "./vcard/card.ts";
import { FileCardStore, MemoryCardStore } from "./vcard/state.ts";

// The in-process card still checks a PIN; it protects nothing here, the file is the secret.
const SOFTWARE_PIN = "software-module";

export interface SoftwareModuleOptions {
  /** State file (mode 0600); in memory only when absent. */
  stateFile?: string;
  production: boolean;
  warn: (msg: string, fields?: Record<string, unknown>) => void;
}

export class SoftwareModuleRefused extends RefusedError {
  override name = "SoftwareModuleRefused";
}

export function createSoftwareModule(options: SoftwareModuleOptions): CardModule {
  if (options.production) {
    throw new SoftwareModuleRefused(
      "the software security module is for development only and is refused in production " +
        "(SMGW_PRODUCTION is set); configure SMGW_SECMOD=card or SMGW_SECMOD=tpm",
    );
  }
  options.warn(
    "SOFTWARE SECURITY MODULE IN USE: private keys are in a file of this process, not in a " +
      "security module; for development only",
    { stateFile: options.stateFile ?? "(memory)" },
  );
  const store = options.stateFile ? new FileCardStore(options.stateFile) : new MemoryCardStore();
  const card = new VirtualCard(store, { initialPin: Buffer.from(SOFTWARE_PIN, "utf8") });
  return new CardModule(new DirectTransport(card), { pin: SOFTWARE_PIN, kind: "software" });
}
