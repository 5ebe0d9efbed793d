/** The SML 1.04 data structures as TypeScript types. Optional fields are undefined when unset. */

import type { SmlNode } from "./tl.ts";

/** SML_Time: a choice of seconds index, UTC timestamp, or local timestamp. */
export type SmlTime =
  /** Seconds since some device-defined start (e.g. power-up). */
  | { kind: "secIndex"; secIndex: number }
  /** Seconds since 1970-01-01 00:00:00 UTC. */
  | { kind: "timestamp"; timestamp: number }
  /** UTC timestamp plus the local offset and the daylight-saving offset, both in minutes. */
  | { kind: "localTimestamp"; timestamp: number; localOffset: number; seasonTimeOffset: number };

/** SML_Value: the value of a list entry or profile entry, as it was on the wire. */
export type SmlValue =
  | { type: "bool"; value: boolean }
  | { type: "octets"; value: Uint8Array }
  /** `size` is the number of value bytes on the wire (1..8). */
  | { type: "int"; value: bigint; size: number }
  | { type: "uint"; value: bigint; size: number }
  /** SML_ListType choice smlTime. */
  | { type: "time"; value: SmlTime }
  /** Other SML_ListType choices (timestamped value, COSEM value), kept untyped. */
  | { type: "listType"; tag: number; value: SmlNode };

export interface SmlListEntry {
  /** OBIS code, normally 6 bytes. */
  objName: Uint8Array;
  /** SML_Status: Unsigned8..64. */
  status?: bigint;
  valTime?: SmlTime;
  /** DLMS unit code. */
  unit?: number;
  /** Decimal exponent: the value means value * 10^scaler. */
  scaler?: number;
  value: SmlValue;
  valueSignature?: Uint8Array;
}

export interface SmlPeriodEntry {
  objName: Uint8Array;
  unit: number;
  scaler: number;
  value: SmlValue;
  valueSignature?: Uint8Array;
}

export interface SmlTupelEntry {
  serverId: Uint8Array;
  secIndex: SmlTime;
  status: bigint;
  unitPA: number;
  scalerPA: number;
  valuePA: bigint;
  unitR1: number;
  scalerR1: number;
  valueR1: bigint;
  unitR4: number;
  scalerR4: number;
  valueR4: bigint;
  signaturePAR1R4: Uint8Array;
  unitMA: number;
  scalerMA: number;
  valueMA: bigint;
  unitR2: number;
  scalerR2: number;
  valueR2: bigint;
  unitR3: number;
  scalerR3: number;
  valueR3: bigint;
  signatureMAR2R3: Uint8Array;
}

/** SML_ProcParValue choice. */
export type SmlProcParValue =
  | { kind: "value"; value: SmlValue }
  | { kind: "periodEntry"; periodEntry: SmlPeriodEntry }
  | { kind: "tupelEntry"; tupelEntry: SmlTupelEntry }
  | { kind: "time"; time: SmlTime }
  | { kind: "listEntry"; listEntry: SmlListEntry };

/** SML_Tree: a parameter with an optional value and optional children. */
export interface SmlTree {
  parameterName: Uint8Array;
  parameterValue?: SmlProcParValue;
  childList?: SmlTree[];
}

export interface SmlProfObjHeaderEntry {
  objName: Uint8Array;
  unit: number;
  scaler: number;
}

export interface SmlValueEntry {
  value: SmlValue;
  valueSignature?: Uint8Array;
}

export interface SmlProfObjPeriodEntry {
  valTime: SmlTime;
  status: bigint;
  valueList: SmlValueEntry[];
  periodSignature?: Uint8Array;
}

export interface SmlOpenRequest {
  kind: "OpenRequest";
  codepage?: Uint8Array;
  clientId: Uint8Array;
  reqFileId: Uint8Array;
  serverId?: Uint8Array;
  username?: Uint8Array;
  password?: Uint8Array;
  smlVersion?: number;
}

export interface SmlOpenResponse {
  kind: "OpenResponse";
  codepage?: Uint8Array;
  clientId?: Uint8Array;
  reqFileId: Uint8Array;
  serverId: Uint8Array;
  refTime?: SmlTime;
  smlVersion?: number;
}

export interface SmlCloseRequest {
  kind: "CloseRequest";
  globalSignature?: Uint8Array;
}

export interface SmlCloseResponse {
  kind: "CloseResponse";
  globalSignature?: Uint8Array;
}

/** The request fields shared by GetProfilePack.Req and GetProfileList.Req. */
export interface SmlProfileRequestFields {
  serverId?: Uint8Array;
  username?: Uint8Array;
  password?: Uint8Array;
  withRawdata?: boolean;
  beginTime?: SmlTime;
  endTime?: SmlTime;
  parameterTreePath: Uint8Array[];
  objectList?: Uint8Array[];
  dasDetails?: SmlTree;
}

export interface SmlGetProfilePackRequest extends SmlProfileRequestFields {
  kind: "GetProfilePackRequest";
}

export interface SmlGetProfileListRequest extends SmlProfileRequestFields {
  kind: "GetProfileListRequest";
}

export interface SmlGetProfilePackResponse {
  kind: "GetProfilePackResponse";
  serverId: Uint8Array;
  actTime: SmlTime;
  /** Registration period in seconds. */
  regPeriod: number;
  parameterTreePath: Uint8Array[];
  headerList: SmlProfObjHeaderEntry[];
  periodList: SmlProfObjPeriodEntry[];
  rawdata?: Uint8Array;
  profileSignature?: Uint8Array;
}

export interface SmlGetProfileListResponse {
  kind: "GetProfileListResponse";
  serverId: Uint8Array;
  actTime: SmlTime;
  regPeriod: number;
  parameterTreePath: Uint8Array[];
  valTime: SmlTime;
  status: bigint;
  periodList: SmlPeriodEntry[];
  rawdata?: Uint8Array;
  periodSignature?: Uint8Array;
}

export interface SmlGetProcParameterRequest {
  kind: "GetProcParameterRequest";
  serverId?: Uint8Array;
  username?: Uint8Array;
  password?: Uint8Array;
  parameterTreePath: Uint8Array[];
  attribute?: Uint8Array;
}

export interface SmlGetProcParameterResponse {
  kind: "GetProcParameterResponse";
  serverId: Uint8Array;
  parameterTreePath: Uint8Array[];
  parameterTree: SmlTree;
}

export interface SmlSetProcParameterRequest {
  kind: "SetProcParameterRequest";
  serverId?: Uint8Array;
  username?: Uint8Array;
  password?: Uint8Array;
  parameterTreePath: Uint8Array[];
  parameterTree: SmlTree;
}

export interface SmlGetListRequest {
  kind: "GetListRequest";
  clientId: Uint8Array;
  serverId?: Uint8Array;
  username?: Uint8Array;
  password?: Uint8Array;
  listName?: Uint8Array;
}

export interface SmlGetListResponse {
  kind: "GetListResponse";
  clientId?: Uint8Array;
  serverId: Uint8Array;
  listName?: Uint8Array;
  actSensorTime?: SmlTime;
  valList: SmlListEntry[];
  listSignature?: Uint8Array;
  actGatewayTime?: SmlTime;
}

export interface SmlAttentionResponse {
  kind: "AttentionResponse";
  serverId: Uint8Array;
  /** 6 bytes, e.g. 81 81 C7 C7 FD 00 (positive acknowledgement). */
  attentionNo: Uint8Array;
  attentionMsg?: Uint8Array;
  attentionDetails?: SmlTree;
}

/** A message body whose tag this codec does not model (e.g. the COSEM messages). */
export interface SmlUnknownBody {
  kind: "Unknown";
  tag: number;
  content: SmlNode;
}

export type SmlMessageBody =
  | SmlOpenRequest
  | SmlOpenResponse
  | SmlCloseRequest
  | SmlCloseResponse
  | SmlGetProfilePackRequest
  | SmlGetProfilePackResponse
  | SmlGetProfileListRequest
  | SmlGetProfileListResponse
  | SmlGetProcParameterRequest
  | SmlGetProcParameterResponse
  | SmlSetProcParameterRequest
  | SmlGetListRequest
  | SmlGetListResponse
  | SmlAttentionResponse
  | SmlUnknownBody;

export type SmlMessageKind = SmlMessageBody["kind"];

/** SML_MessageBody choice tags. */
export const MESSAGE_TAGS = {
  OpenRequest: 0x00000100,
  OpenResponse: 0x00000101,
  CloseRequest: 0x00000200,
  CloseResponse: 0x00000201,
  GetProfilePackRequest: 0x00000300,
  GetProfilePackResponse: 0x00000301,
  GetProfileListRequest: 0x00000400,
  GetProfileListResponse: 0x00000401,
  GetProcParameterRequest: 0x00000500,
  GetProcParameterResponse: 0x00000501,
  SetProcParameterRequest: 0x00000600,
  GetListRequest: 0x00000700,
  GetListResponse: 0x00000701,
  AttentionResponse: 0x0000ff01,
} as const satisfies Record<Exclude<SmlMessageKind, "Unknown">, number>;

export interface SmlMessage {
  transactionId: Uint8Array;
  groupNo: number;
  abortOnError: number;
  body: SmlMessageBody;
  /** The crc16 field as received (decoding), or as written (encoding fills it in). */
  crc16?: number;
}

/** A decoded SML file: the messages of one transport frame. */
export interface SmlFile {
  messages: SmlMessage[];
}
