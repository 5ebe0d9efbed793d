/** Writers for SML_MessageBody and each body type. */

import {
  writeBigUnsigned,
  writeList,
  writeListEntry,
  writeOptionalList,
  writeOptionalTime,
  writeOptionalTree,
  writePeriodEntry,
  writeTime,
  writeTree,
  writeTreePath,
  writeValue,
} from "./encode-structures.ts";
import { MESSAGE_TAGS, type SmlMessageBody, type SmlProfileRequestFields } from "./types.ts";
import type { SmlWriter } from "./writer.ts";

export function writeMessageBody(w: SmlWriter, body: SmlMessageBody): void {
  w.list(2);
  const tag = body.kind === "Unknown" ? body.tag : MESSAGE_TAGS[body.kind];
  // Meters send the Unsigned32 tag in two bytes; every decoder in the field expects that.
  w.unsigned(tag, tag > 0xffff ? 4 : 2, "message body tag");
  switch (body.kind) {
    case "OpenRequest":
      w.list(7);
      w.optionalOctets(body.codepage);
      w.octets(body.clientId);
      w.octets(body.reqFileId);
      w.optionalOctets(body.serverId);
      w.optionalOctets(body.username);
      w.optionalOctets(body.password);
      w.optionalUnsigned(body.smlVersion, 1, "sml-Version");
      return;
    case "OpenResponse":
      w.list(6);
      w.optionalOctets(body.codepage);
      w.optionalOctets(body.clientId);
      w.octets(body.reqFileId);
      w.octets(body.serverId);
      writeOptionalTime(w, body.refTime);
      w.optionalUnsigned(body.smlVersion, 1, "sml-Version");
      return;
    case "CloseRequest":
    case "CloseResponse":
      w.list(1);
      w.optionalOctets(body.globalSignature);
      return;
    case "GetProfilePackRequest":
    case "GetProfileListRequest":
      writeProfileRequest(w, body);
      return;
    case "GetProfilePackResponse":
      w.list(8);
      w.octets(body.serverId);
      writeTime(w, body.actTime);
      w.unsigned(body.regPeriod, 4, "regPeriod");
      writeTreePath(w, body.parameterTreePath);
      writeList(w, body.headerList, (x, h) => {
        x.list(3);
        x.octets(h.objName);
        x.unsigned(h.unit, 1, "unit");
        x.integer(h.scaler, 1, "scaler");
      });
      writeList(w, body.periodList, (x, p) => {
        x.list(4);
        writeTime(x, p.valTime);
        writeBigUnsigned(x, p.status, "status");
        writeList(x, p.valueList, (y, v) => {
          y.list(2);
          writeValue(y, v.value);
          y.optionalOctets(v.valueSignature);
        });
        x.optionalOctets(p.periodSignature);
      });
      w.optionalOctets(body.rawdata);
      w.optionalOctets(body.profileSignature);
      return;
    case "GetProfileListResponse":
      w.list(9);
      w.octets(body.serverId);
      writeTime(w, body.actTime);
      w.unsigned(body.regPeriod, 4, "regPeriod");
      writeTreePath(w, body.parameterTreePath);
      writeTime(w, body.valTime);
      writeBigUnsigned(w, body.status, "status");
      writeList(w, body.periodList, writePeriodEntry);
      w.optionalOctets(body.rawdata);
      w.optionalOctets(body.periodSignature);
      return;
    case "GetProcParameterRequest":
      w.list(5);
      w.optionalOctets(body.serverId);
      w.optionalOctets(body.username);
      w.optionalOctets(body.password);
      writeTreePath(w, body.parameterTreePath);
      w.optionalOctets(body.attribute);
      return;
    case "GetProcParameterResponse":
      w.list(3);
      w.octets(body.serverId);
      writeTreePath(w, body.parameterTreePath);
      writeTree(w, body.parameterTree);
      return;
    case "SetProcParameterRequest":
      w.list(5);
      w.optionalOctets(body.serverId);
      w.optionalOctets(body.username);
      w.optionalOctets(body.password);
      writeTreePath(w, body.parameterTreePath);
      writeTree(w, body.parameterTree);
      return;
    case "GetListRequest":
      w.list(5);
      w.octets(body.clientId);
      w.optionalOctets(body.serverId);
      w.optionalOctets(body.username);
      w.optionalOctets(body.password);
      w.optionalOctets(body.listName);
      return;
    case "GetListResponse":
      w.list(7);
      w.optionalOctets(body.clientId);
      w.octets(body.serverId);
      w.optionalOctets(body.listName);
      writeOptionalTime(w, body.actSensorTime);
      writeList(w, body.valList, writeListEntry);
      w.optionalOctets(body.listSignature);
      writeOptionalTime(w, body.actGatewayTime);
      return;
    case "AttentionResponse":
      w.list(4);
      w.octets(body.serverId);
      w.octets(body.attentionNo);
      w.optionalOctets(body.attentionMsg);
      writeOptionalTree(w, body.attentionDetails);
      return;
    case "Unknown":
      w.node(body.content);
      return;
  }
}

function writeProfileRequest(w: SmlWriter, f: SmlProfileRequestFields): void {
  w.list(9);
  w.optionalOctets(f.serverId);
  w.optionalOctets(f.username);
  w.optionalOctets(f.password);
  w.optionalBool(f.withRawdata);
  writeOptionalTime(w, f.beginTime);
  writeOptionalTime(w, f.endTime);
  writeTreePath(w, f.parameterTreePath);
  writeOptionalList(w, f.objectList, (x, o) => x.octets(o));
  writeOptionalTree(w, f.dasDetails);
}
