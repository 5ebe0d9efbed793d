// Secure storage's keys live in the security module: data keys are wrapped and unwrapped by
// the crypto manager, and each store's anchor is its monotonic counter. This is the
// `KeyService` of lib/securestore over the IFM.
import type { IpcClient } from "@smgw/ipc";
import type { KeyService } from "@smgw/securestore";

export class CryptoKeyService implements KeyService {
  /** The crypto manager keeps one counter per storage domain ("<domain>/store"). */
  private readonly storeOfDomain = new Map<string, string>();

  constructor(private readonly ifm: IpcClient) {}

  async wrap(domain: string, dataKey: Uint8Array): Promise<Uint8Array> {
    const r = await this.ifm.request("crypto", "crypto.wrap", { domain, dataKey: hex(dataKey) });
    return Buffer.from(r.wrapped, "hex");
  }

  async unwrap(domain: string, wrapped: Uint8Array): Promise<Uint8Array> {
    const r = await this.ifm.request("crypto", "crypto.unwrap", { domain, wrapped: hex(wrapped) });
    return Buffer.from(r.dataKey, "hex");
  }

  async counter(name: string): Promise<bigint> {
    const r = await this.ifm.request("crypto", "crypto.counter-read", {
      counter: this.counterOf(name),
    });
    return BigInt(r.value);
  }

  async increment(name: string): Promise<bigint> {
    const r = await this.ifm.request("crypto", "crypto.counter-increment", {
      counter: this.counterOf(name),
    });
    return BigInt(r.value);
  }

  /** "<domain>/<store>" -> "<domain>/store"; a second store of one domain would share it. */
  private counterOf(name: string): string {
    const [domain, store] = name.split("/");
    if (!domain || !store) throw new Error(`counter name ${name} is not <domain>/<store>`);
    const known = this.storeOfDomain.get(domain);
    if (known !== undefined && known !== store) {
      throw new Error(`domain ${domain} has a store ${known} already; one counter per domain`);
    }
    this.storeOfDomain.set(domain, store);
    return `${domain}/store`;
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
