// The security-module card's command set: constants shared by the host backend and the
// virtual card. docs/security-module.md describes every command; change both together.
import type { Curve } from "../module.ts";

/** Application identifier (proprietary category F0, "SMGW-SM", version 1). */
export const AID = Uint8Array.of(0xf0, 0x53, 0x4d, 0x47, 0x57, 0x2d, 0x53, 0x4d, 0x01);

export const CLA_ISO = 0x00;
/** Proprietary class for the commands ISO/IEC 7816-4 has no instruction for. */
export const CLA_PROPRIETARY = 0x80;

export const INS = {
  SELECT: 0xa4,
  VERIFY: 0x20,
  MSE: 0x22,
  PSO: 0x2a,
  GENERAL_AUTHENTICATE: 0x86,
  GET_CHALLENGE: 0x84,
  GENERATE_KEY: 0x46,
  READ_BINARY: 0xb0,
  UPDATE_BINARY: 0xd6,
  ERASE_BINARY: 0x0e,
  GET_DATA: 0xca,
  INCREASE: 0x32,
} as const;

/** Reference of the card's PIN (specific reference data, local to the application). */
export const PIN_REFERENCE = 0x81;
export const PIN_MIN = 4;
export const PIN_MAX = 16;
export const PIN_TRIES = 3;

/** Key references: 01…0F hold EC key pairs, 11…1F AES-256 storage keys. */
export const EC_KEY_REFS = { first: 0x01, last: 0x0f } as const;
export const STORAGE_KEY_REFS = { first: 0x11, last: 0x1f } as const;

export function isEcKeyRef(ref: number): boolean {
  return ref >= EC_KEY_REFS.first && ref <= EC_KEY_REFS.last;
}

export function isStorageKeyRef(ref: number): boolean {
  return ref >= STORAGE_KEY_REFS.first && ref <= STORAGE_KEY_REFS.last;
}

/** Algorithm identifiers in tag 80 of GENERATE. */
export const CURVE_IDS: Record<Curve, number> = {
  brainpoolP256r1: 0x01,
  brainpoolP384r1: 0x02,
  prime256v1: 0x03,
};
export const ALG_AES256 = 0x10;

export function curveOfId(id: number): Curve | undefined {
  return (Object.entries(CURVE_IDS) as [Curve, number][]).find(([, v]) => v === id)?.[0];
}

/** MSE SET control reference templates (P2). */
export const CRT = { DST: 0xb6, AT: 0xa4, CT: 0xb8 } as const;

/** Tags in command and response data. */
export const TAG = {
  KEY_REF: 0x84,
  ALGORITHM: 0x80,
  PUBLIC_KEY: 0x7f49,
  CURVE_OID: 0x06,
  POINT: 0x86,
  DYNAMIC_AUTH: 0x7c,
  PEER_POINT: 0x85,
  SHARED_SECRET: 0x86,
  FCP: 0x62,
  FILE_SIZE: 0x80,
  FILE_ID: 0x83,
  CARD_INFO: 0xe0,
  VERSION: 0xc0,
  SERIAL: 0xc1,
  PIN_TRIES: 0xc2,
} as const;

/** Certificate file of EC key `ref`: FID C0 ref. */
export function certificateFid(ref: number): number {
  return 0xc000 | ref;
}

export const MAX_FILE_SIZE = 4096;
/** GET CHALLENGE answers at most this many bytes per command. */
export const MAX_CHALLENGE = 256;
/** Format byte of a wrapped key: AES-256-GCM, 12-byte nonce, 16-byte tag. */
export const WRAP_FORMAT_GCM = 0x01;
export const COUNTER_COUNT = 16;
/** GET DATA P1 for a counter (P2 is the counter number); P1 00 P2 00 is the card info. */
export const GET_DATA_COUNTER = 0x01;
