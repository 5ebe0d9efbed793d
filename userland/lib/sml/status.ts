/**
 * Status words. SML carries them raw (SML_Status, Unsigned8..64); their bits are defined by the
 * FNN specifications, not by SML. Two layouts are recognised here:
 *
 * - the basic meter status word (FNN Lastenheft Basiszähler), 32 bits, low byte 0x04;
 * - the combined status word of a smart meter gateway (FNN Lastenheft SMGW), 64 bits: the
 *   gateway's word in the upper 32 bits (low byte 0x05 or 0x07), the meter's word below.
 *
 * Other meters (e.g. pre-FNN eHZ) use vendor layouts: those decode as "unknown" with the raw
 * value only. The raw value is always kept.
 */

export interface BasicMeterStatus {
  /** The meter runs above its starting threshold. */
  startUp: boolean;
  magneticallyInfluenced: boolean;
  /** Terminal cover or parameter switch manipulation detected. */
  manipulation: boolean;
  /** The total energy direction is export (-A). */
  energyDirectionNegative: boolean;
  energyDirectionL1Negative: boolean;
  energyDirectionL2Negative: boolean;
  energyDirectionL3Negative: boolean;
  /** The rotating field is not L1-L2-L3. */
  phaseSequenceNotL1L2L3: boolean;
  backstopActive: boolean;
  fatalError: boolean;
  voltageL1Present: boolean;
  voltageL2Present: boolean;
  voltageL3Present: boolean;
}

export interface GatewayStatus {
  transparencyBit: boolean;
  fatalError: boolean;
  systemTimeInvalid: boolean;
  ptbWarning: boolean;
  /** PTB temporary error: value is signed but marked invalid. */
  ptbTemporaryErrorSignedInvalid: boolean;
  /** PTB temporary error: value is invalid. */
  ptbTemporaryErrorInvalid: boolean;
}

/** PTB status: 0 no error, 1 warning, 2 temporary error, 3 critical temporary error, 4 fatal. */
export type PtbStatus = 0 | 1 | 2 | 3 | 4;

export interface StatusWordInfo {
  raw: bigint;
  format: "fnn-basic-meter" | "fnn-gateway-combined" | "unknown";
  basicMeter?: BasicMeterStatus;
  gateway?: GatewayStatus;
  /** Derived for the FNN layouts only. */
  ptbStatus?: PtbStatus;
}

const BZ_FIXED_MASK = 0xffe000ff;
const BZ_IDENTIFICATION = 0x04;
const GW_FIXED_MASK = 0xffff8cfd;
const GW_IDENTIFICATION = 0x05;

export function decodeBasicMeterStatus(word: number): BasicMeterStatus | undefined {
  if ((word & BZ_FIXED_MASK) >>> 0 !== BZ_IDENTIFICATION) return undefined;
  const bit = (n: number) => (word & (1 << n)) !== 0;
  return {
    startUp: bit(8),
    magneticallyInfluenced: bit(9),
    manipulation: bit(10),
    energyDirectionNegative: bit(11),
    energyDirectionL1Negative: bit(12),
    energyDirectionL2Negative: bit(13),
    energyDirectionL3Negative: bit(14),
    phaseSequenceNotL1L2L3: bit(15),
    backstopActive: bit(16),
    fatalError: bit(17),
    voltageL1Present: bit(18),
    voltageL2Present: bit(19),
    voltageL3Present: bit(20),
  };
}

export function decodeGatewayStatus(word: number): GatewayStatus | undefined {
  if ((word & GW_FIXED_MASK) >>> 0 !== GW_IDENTIFICATION) return undefined;
  const bit = (n: number) => (word & (1 << n)) !== 0;
  return {
    transparencyBit: bit(1),
    fatalError: bit(8),
    systemTimeInvalid: bit(9),
    ptbWarning: bit(12),
    ptbTemporaryErrorSignedInvalid: bit(13),
    ptbTemporaryErrorInvalid: bit(14),
  };
}

/** PTB status from the FNN flags, following the FNN mapping of the combined status word. */
export function ptbStatusOf(meter?: BasicMeterStatus, gateway?: GatewayStatus): PtbStatus {
  if (meter?.fatalError || gateway?.fatalError) return 4;
  if (gateway?.systemTimeInvalid || gateway?.ptbTemporaryErrorInvalid) return 3;
  if (
    gateway?.ptbTemporaryErrorSignedInvalid ||
    meter?.manipulation ||
    meter?.magneticallyInfluenced
  ) {
    return 2;
  }
  if (gateway?.ptbWarning) return 1;
  return 0;
}

export function decodeStatusWord(raw: bigint | number): StatusWordInfo {
  const value = BigInt(raw);
  if (value < 0n || value > 0xffffffffffffffffn) return { raw: value, format: "unknown" };
  const low = Number(value & 0xffffffffn);
  const high = Number(value >> 32n);
  if (high !== 0) {
    const gateway = decodeGatewayStatus(high);
    if (gateway === undefined) return { raw: value, format: "unknown" };
    const basicMeter = decodeBasicMeterStatus(low);
    return {
      raw: value,
      format: "fnn-gateway-combined",
      gateway,
      basicMeter,
      ptbStatus: ptbStatusOf(basicMeter, gateway),
    };
  }
  const basicMeter = decodeBasicMeterStatus(low);
  if (basicMeter === undefined) return { raw: value, format: "unknown" };
  return { raw: value, format: "fnn-basic-meter", basicMeter, ptbStatus: ptbStatusOf(basicMeter) };
}

/** Builds a basic meter status word from flags (identification bits set). */
export function encodeBasicMeterStatus(flags: Partial<BasicMeterStatus>): number {
  const bits: [keyof BasicMeterStatus, number][] = [
    ["startUp", 8],
    ["magneticallyInfluenced", 9],
    ["manipulation", 10],
    ["energyDirectionNegative", 11],
    ["energyDirectionL1Negative", 12],
    ["energyDirectionL2Negative", 13],
    ["energyDirectionL3Negative", 14],
    ["phaseSequenceNotL1L2L3", 15],
    ["backstopActive", 16],
    ["fatalError", 17],
    ["voltageL1Present", 18],
    ["voltageL2Present", 19],
    ["voltageL3Present", 20],
  ];
  let word = BZ_IDENTIFICATION;
  for (const [name, n] of bits) if (flags[name]) word |= 1 << n;
  return word >>> 0;
}
