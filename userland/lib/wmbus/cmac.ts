import { dlopen, FFIType } from "bun:ffi";
import { checkAesKey } from "./aes.ts";
import { WmbusError } from "./errors.ts";

// node:crypto has no CMAC; OpenSSL 3 provides it through EVP_Q_mac.
interface LibCrypto {
  EVP_Q_mac: (...args: unknown[]) => unknown;
}

let libcrypto: LibCrypto | undefined;
let loadError: string | undefined;

function load(): LibCrypto {
  if (libcrypto) return libcrypto;
  if (loadError !== undefined) throw new WmbusError("unsupported", loadError);
  try {
    const lib = dlopen("libcrypto.so.3", {
      EVP_Q_mac: {
        args: [
          FFIType.ptr, // libctx
          FFIType.ptr, // name
          FFIType.ptr, // propq
          FFIType.ptr, // subalg
          FFIType.ptr, // params
          FFIType.ptr, // key
          FFIType.u64, // keylen
          FFIType.ptr, // data
          FFIType.u64, // datalen
          FFIType.ptr, // out
          FFIType.u64, // outsize
          FFIType.ptr, // outlen
        ],
        returns: FFIType.ptr,
      },
    });
    libcrypto = lib.symbols as unknown as LibCrypto;
    return libcrypto;
  } catch (error) {
    loadError = `AES-CMAC unavailable: libcrypto.so.3 could not be loaded (${String(error)})`;
    throw new WmbusError("unsupported", loadError);
  }
}

const MAC_NAME = Buffer.from("CMAC\0");
const CIPHER_NAME = Buffer.from("AES-128-CBC\0");

/** AES-128-CMAC (RFC 4493), full 16-byte tag. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  checkAesKey(key);
  const lib = load();
  const out = new Uint8Array(16);
  const outLength = new BigUint64Array(1);
  // bun:ffi cannot take a pointer to an empty array; OpenSSL accepts NULL with length 0.
  const data = message.length > 0 ? message : null;
  const result = lib.EVP_Q_mac(
    null,
    MAC_NAME,
    null,
    CIPHER_NAME,
    null,
    key,
    key.length,
    data,
    message.length,
    out,
    out.length,
    outLength,
  );
  if (!result || outLength[0] !== 16n) {
    throw new WmbusError("unsupported", "AES-CMAC computation failed in libcrypto");
  }
  return out;
}
