/** Readers for SML_MessageBody and each body type. */

import {
  readList,
  readListEntry,
  readOptionalList,
  readOptionalTime,
  readOptionalTree,
  readPeriodEntry,
  readTime,
  readTree,
  readTreePath,
  readValue,
} from "./decode-structures.ts";
import type { SmlReader } from "./reader.ts";
import {
  MESSAGE_TAGS,
  type SmlMessageBody,
  type SmlProfileRequestFields,
  type SmlProfObjHeaderEntry,
  type SmlProfObjPeriodEntry,
  type SmlValueEntry,
} from "./types.ts";

export function readMessageBody(r: SmlReader): SmlMessageBody {
  r.enterList("SML_MessageBody", 2);
  const tag = r.readUnsigned("SML_MessageBody choice", 32);
  const body = readBodyContent(r, tag);
  r.leaveList();
  return body;
}

function readBodyContent(r: SmlReader, tag: number): SmlMessageBody {
  switch (tag) {
    case MESSAGE_TAGS.OpenRequest: {
      r.enterList("SML_PublicOpen.Req", 7);
      const body: SmlMessageBody = {
        kind: "OpenRequest",
        codepage: r.readOptionalOctets("codepage"),
        clientId: r.readOctets("clientId"),
        reqFileId: r.readOctets("reqFileId"),
        serverId: r.readOptionalOctets("serverId"),
        username: r.readOptionalOctets("username"),
        password: r.readOptionalOctets("password"),
        smlVersion: r.readOptionalUnsigned("sml-Version", 8),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.OpenResponse: {
      r.enterList("SML_PublicOpen.Res", 6);
      const body: SmlMessageBody = {
        kind: "OpenResponse",
        codepage: r.readOptionalOctets("codepage"),
        clientId: r.readOptionalOctets("clientId"),
        reqFileId: r.readOctets("reqFileId"),
        serverId: r.readOctets("serverId"),
        refTime: readOptionalTime(r, "refTime"),
        smlVersion: r.readOptionalUnsigned("sml-Version", 8),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.CloseRequest:
    case MESSAGE_TAGS.CloseResponse: {
      const request = tag === MESSAGE_TAGS.CloseRequest;
      r.enterList(request ? "SML_PublicClose.Req" : "SML_PublicClose.Res", 1);
      const globalSignature = r.readOptionalOctets("globalSignature");
      r.leaveList();
      return request
        ? { kind: "CloseRequest", globalSignature }
        : { kind: "CloseResponse", globalSignature };
    }
    case MESSAGE_TAGS.GetProfilePackRequest:
      return { kind: "GetProfilePackRequest", ...readProfileRequest(r, "SML_GetProfilePack.Req") };
    case MESSAGE_TAGS.GetProfileListRequest:
      return { kind: "GetProfileListRequest", ...readProfileRequest(r, "SML_GetProfileList.Req") };
    case MESSAGE_TAGS.GetProfilePackResponse: {
      r.enterList("SML_GetProfilePack.Res", 8);
      const body: SmlMessageBody = {
        kind: "GetProfilePackResponse",
        serverId: r.readOctets("serverId"),
        actTime: readTime(r, "actTime"),
        regPeriod: r.readUnsigned("regPeriod", 32),
        parameterTreePath: readTreePath(r),
        headerList: readList(r, "header_List", readProfObjHeaderEntry),
        periodList: readList(r, "period_List", readProfObjPeriodEntry),
        rawdata: r.readOptionalOctets("rawdata"),
        profileSignature: r.readOptionalOctets("profileSignature"),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.GetProfileListResponse: {
      r.enterList("SML_GetProfileList.Res", 9);
      const body: SmlMessageBody = {
        kind: "GetProfileListResponse",
        serverId: r.readOctets("serverId"),
        actTime: readTime(r, "actTime"),
        regPeriod: r.readUnsigned("regPeriod", 32),
        parameterTreePath: readTreePath(r),
        valTime: readTime(r, "valTime"),
        status: r.readBigUnsigned("status"),
        periodList: readList(r, "period_List", readPeriodEntry),
        rawdata: r.readOptionalOctets("rawdata"),
        periodSignature: r.readOptionalOctets("periodSignature"),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.GetProcParameterRequest: {
      r.enterList("SML_GetProcParameter.Req", 5);
      const body: SmlMessageBody = {
        kind: "GetProcParameterRequest",
        serverId: r.readOptionalOctets("serverId"),
        username: r.readOptionalOctets("username"),
        password: r.readOptionalOctets("password"),
        parameterTreePath: readTreePath(r),
        attribute: r.readOptionalOctets("attribute"),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.GetProcParameterResponse: {
      r.enterList("SML_GetProcParameter.Res", 3);
      const body: SmlMessageBody = {
        kind: "GetProcParameterResponse",
        serverId: r.readOctets("serverId"),
        parameterTreePath: readTreePath(r),
        parameterTree: readTree(r),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.SetProcParameterRequest: {
      r.enterList("SML_SetProcParameter.Req", 5);
      const body: SmlMessageBody = {
        kind: "SetProcParameterRequest",
        serverId: r.readOptionalOctets("serverId"),
        username: r.readOptionalOctets("username"),
        password: r.readOptionalOctets("password"),
        parameterTreePath: readTreePath(r),
        parameterTree: readTree(r),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.GetListRequest: {
      r.enterList("SML_GetList.Req", 5);
      const body: SmlMessageBody = {
        kind: "GetListRequest",
        clientId: r.readOctets("clientId"),
        serverId: r.readOptionalOctets("serverId"),
        username: r.readOptionalOctets("username"),
        password: r.readOptionalOctets("password"),
        listName: r.readOptionalOctets("listName"),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.GetListResponse: {
      r.enterList("SML_GetList.Res", 7);
      const body: SmlMessageBody = {
        kind: "GetListResponse",
        clientId: r.readOptionalOctets("clientId"),
        serverId: r.readOctets("serverId"),
        listName: r.readOptionalOctets("listName"),
        actSensorTime: readOptionalTime(r, "actSensorTime"),
        valList: readList(r, "valList", readListEntry),
        listSignature: r.readOptionalOctets("listSignature"),
        actGatewayTime: readOptionalTime(r, "actGatewayTime"),
      };
      r.leaveList();
      return body;
    }
    case MESSAGE_TAGS.AttentionResponse: {
      r.enterList("SML_Attention.Res", 4);
      const body: SmlMessageBody = {
        kind: "AttentionResponse",
        serverId: r.readOctets("serverId"),
        attentionNo: r.readOctets("attentionNo"),
        attentionMsg: r.readOptionalOctets("attentionMsg"),
        attentionDetails: readOptionalTree(r),
      };
      r.leaveList();
      return body;
    }
    default:
      return { kind: "Unknown", tag, content: r.readNode("unknown message body") };
  }
}

function readProfileRequest(r: SmlReader, what: string): SmlProfileRequestFields {
  r.enterList(what, 9);
  const fields: SmlProfileRequestFields = {
    serverId: r.readOptionalOctets("serverId"),
    username: r.readOptionalOctets("username"),
    password: r.readOptionalOctets("password"),
    withRawdata: r.skipNone() ? undefined : r.readBoolean("withRawdata"),
    beginTime: readOptionalTime(r, "beginTime"),
    endTime: readOptionalTime(r, "endTime"),
    parameterTreePath: readTreePath(r),
    objectList: readOptionalList(r, "object_List", (x) => x.readOctets("SML_ObjReqEntry")),
    dasDetails: readOptionalTree(r),
  };
  r.leaveList();
  return fields;
}

function readProfObjHeaderEntry(r: SmlReader): SmlProfObjHeaderEntry {
  r.enterList("SML_ProfObjHeaderEntry", 3);
  const objName = r.readOctets("objName");
  const unit = r.readUnsigned("unit", 8);
  const scaler = r.readInteger("scaler", 8);
  r.leaveList();
  return { objName, unit, scaler };
}

function readValueEntry(r: SmlReader): SmlValueEntry {
  r.enterList("SML_ValueEntry", 2);
  const value = readValue(r, "value");
  const valueSignature = r.readOptionalOctets("valueSignature");
  r.leaveList();
  return { value, valueSignature };
}

function readProfObjPeriodEntry(r: SmlReader): SmlProfObjPeriodEntry {
  r.enterList("SML_ProfObjPeriodEntry", 4);
  const valTime = readTime(r, "valTime");
  const status = r.readBigUnsigned("status");
  const valueList = readList(r, "value_List", readValueEntry);
  const periodSignature = r.readOptionalOctets("periodSignature");
  r.leaveList();
  return { valTime, status, valueList, periodSignature };
}
