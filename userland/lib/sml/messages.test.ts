import { describe, expect, test } from "bun:test";
import { SmlError } from "./errors.ts";
import { decodeSmlFile, encodeSmlFile } from "./file.ts";
import { decodeSmlMessages, encodeSmlMessages } from "./message.ts";
import {
  concat,
  handFrame,
  handMessage,
  hex,
  SAMPLE_FRAMES,
  SAMPLE_PAYLOADS,
  SAMPLE_PUBLIC_KEY,
  SAMPLE_SERVER_ID,
  STALE_CRC_FRAME,
  TOLERANT_PAYLOAD,
  toHex,
  WIDTH_BODY,
  WIDTH_PAYLOAD,
  WIDTH_VALUES,
  xorByte,
} from "./test-support.ts";
import type { SmlMessage, SmlMessageBody } from "./types.ts";

const SERVER = `0b ${SAMPLE_SERVER_ID}`;
const serverId = hex(SAMPLE_SERVER_ID);

/** Decodes one hand-written message inside a transport frame and returns its body. */
function body(bodyHex: string): SmlMessageBody {
  const file = decodeSmlFile(handFrame(handMessage("03 0001", bodyHex)));
  expect(file.messages.length).toBe(1);
  const m = file.messages[0] as SmlMessage;
  expect(m.transactionId).toEqual(hex("0001"));
  expect(m.groupNo).toBe(0);
  expect(m.abortOnError).toBe(0);
  return m.body;
}

/** decode → encode → decode gives the same model. */
function expectModelRoundTrip(bytes: Uint8Array): void {
  const a = decodeSmlMessages(bytes);
  const b = decodeSmlMessages(encodeSmlMessages(a));
  const strip = (ms: SmlMessage[]) => ms.map(({ crc16: _, ...rest }) => rest);
  expect(strip(b)).toEqual(strip(a));
}

/** The encoder writes exactly the hand-written bytes. */
function expectCanonical(bodyHex: string): void {
  const m = handMessage("03 0001", bodyHex);
  expect(toHex(encodeSmlMessages(decodeSmlMessages(m)))).toBe(toHex(m));
}

function errorOf(f: () => unknown): SmlError {
  try {
    f();
  } catch (e) {
    if (e instanceof SmlError) return e;
    throw e;
  }
  throw new Error("no error thrown");
}

describe("hand-built messages", () => {
  test("OpenRequest", () => {
    const h = `72 630100 77 01 04616263 03f00d ${SERVER} 01 01 6201`;
    expect(body(h)).toEqual({
      kind: "OpenRequest",
      codepage: undefined,
      clientId: hex("616263"),
      reqFileId: hex("f00d"),
      serverId,
      username: undefined,
      password: undefined,
      smlVersion: 1,
    });
    expectCanonical(h);
  });

  test("OpenResponse with refTime", () => {
    const h = `72 630101 76 01 01 03f00d ${SERVER} 72 6202 655f5e1000 6201`;
    expect(body(h)).toEqual({
      kind: "OpenResponse",
      codepage: undefined,
      clientId: undefined,
      reqFileId: hex("f00d"),
      serverId,
      refTime: { kind: "timestamp", timestamp: 0x5f5e1000 },
      smlVersion: 1,
    });
    expectCanonical(h);
  });

  test("CloseRequest and CloseResponse", () => {
    expect(body("72 630200 71 01")).toEqual({ kind: "CloseRequest", globalSignature: undefined });
    expect(body("72 630201 71 0501020304")).toEqual({
      kind: "CloseResponse",
      globalSignature: hex("01020304"),
    });
    expectCanonical("72 630201 71 0501020304");
  });

  test("GetListRequest", () => {
    const h = `72 630700 75 04616263 ${SERVER} 04757372 04707764 070100620affff`;
    expect(body(h)).toEqual({
      kind: "GetListRequest",
      clientId: hex("616263"),
      serverId,
      username: hex("757372"),
      password: hex("707764"),
      listName: hex("0100620affff"),
    });
    expectCanonical(h);
  });

  test("GetListResponse with status, local time, signatures and list-type values", () => {
    const h = `72 630701 77 01 ${SERVER} 070100620affff 72 6201 6500001000
      73
        77 070100010800ff 641c0104 72 6203 73 655f5e1000 53003c 530000 621e 52ff 560000012345 05a1a2a3a4
        77 070100000009ff 01 01 01 01 72 6201 72 6202 655f5e1000 01
        77 070100600505ff 01 01 01 01 4201 01
      01
      72 6201 6207`;
    expect(body(h)).toEqual({
      kind: "GetListResponse",
      clientId: undefined,
      serverId,
      listName: hex("0100620affff"),
      actSensorTime: { kind: "secIndex", secIndex: 4096 },
      valList: [
        {
          objName: hex("0100010800ff"),
          status: 0x1c0104n,
          valTime: {
            kind: "localTimestamp",
            timestamp: 0x5f5e1000,
            localOffset: 60,
            seasonTimeOffset: 0,
          },
          unit: 30,
          scaler: -1,
          value: { type: "int", value: 0x12345n, size: 5 },
          valueSignature: hex("a1a2a3a4"),
        },
        {
          objName: hex("0100000009ff"),
          status: undefined,
          valTime: undefined,
          unit: undefined,
          scaler: undefined,
          value: { type: "time", value: { kind: "timestamp", timestamp: 0x5f5e1000 } },
          valueSignature: undefined,
        },
        {
          objName: hex("0100600505ff"),
          status: undefined,
          valTime: undefined,
          unit: undefined,
          scaler: undefined,
          value: { type: "bool", value: true },
          valueSignature: undefined,
        },
      ],
      listSignature: undefined,
      actGatewayTime: { kind: "secIndex", secIndex: 7 },
    });
    expectModelRoundTrip(handMessage("03 0001", h));
  });

  test("GetProfileListRequest", () => {
    const h = `72 630400 79 ${SERVER} 01 01 4200 72 6202 655f5e1000 72 6202 655f5f6180
      71 070100010800ff 72 070100010800ff 070100020800ff 01`;
    expect(body(h)).toEqual({
      kind: "GetProfileListRequest",
      serverId,
      username: undefined,
      password: undefined,
      withRawdata: false,
      beginTime: { kind: "timestamp", timestamp: 0x5f5e1000 },
      endTime: { kind: "timestamp", timestamp: 0x5f5f6180 },
      parameterTreePath: [hex("0100010800ff")],
      objectList: [hex("0100010800ff"), hex("0100020800ff")],
      dasDetails: undefined,
    });
    expectCanonical(h);
  });

  test("GetProfileListResponse", () => {
    const h = `72 630401 79 ${SERVER} 72 6202 655f5e1000 650000 0384 71 078181c78603ff
      72 6202 655f5e0c7c 6204
      72 75 070100010800ff 621e 52ff 590000000000002710 01
         75 070100020800ff 621e 52ff 590000000000000000 01
      01 050b0c0d0e`;
    expect(body(h)).toEqual({
      kind: "GetProfileListResponse",
      serverId,
      actTime: { kind: "timestamp", timestamp: 0x5f5e1000 },
      regPeriod: 900,
      parameterTreePath: [hex("8181c78603ff")],
      valTime: { kind: "timestamp", timestamp: 0x5f5e0c7c },
      status: 4n,
      periodList: [
        {
          objName: hex("0100010800ff"),
          unit: 30,
          scaler: -1,
          value: { type: "int", value: 10000n, size: 8 },
          valueSignature: undefined,
        },
        {
          objName: hex("0100020800ff"),
          unit: 30,
          scaler: -1,
          value: { type: "int", value: 0n, size: 8 },
          valueSignature: undefined,
        },
      ],
      rawdata: undefined,
      periodSignature: hex("0b0c0d0e"),
    });
    expectCanonical(h);
  });

  test("GetProfilePackRequest with dasDetails", () => {
    const h = `72 630300 79 01 01 01 01 01 01 71 078181c78603ff 01 73 078181c78600ff 01 01`;
    expect(body(h)).toEqual({
      kind: "GetProfilePackRequest",
      serverId: undefined,
      username: undefined,
      password: undefined,
      withRawdata: undefined,
      beginTime: undefined,
      endTime: undefined,
      parameterTreePath: [hex("8181c78603ff")],
      objectList: undefined,
      dasDetails: {
        parameterName: hex("8181c78600ff"),
        parameterValue: undefined,
        childList: undefined,
      },
    });
    expectCanonical(h);
  });

  test("GetProfilePackResponse", () => {
    const h = `72 630301 78 ${SERVER} 72 6201 6500000e10 6500000384 71 078181c78603ff
      72 73 070100010800ff 621e 52ff
         73 070100020800ff 621e 52ff
      71 74 72 6202 655f5e1000 6200
            72 72 590000000000002710 01
               72 590000000000000000 01
            01
      01 01`;
    expect(body(h)).toEqual({
      kind: "GetProfilePackResponse",
      serverId,
      actTime: { kind: "secIndex", secIndex: 3600 },
      regPeriod: 900,
      parameterTreePath: [hex("8181c78603ff")],
      headerList: [
        { objName: hex("0100010800ff"), unit: 30, scaler: -1 },
        { objName: hex("0100020800ff"), unit: 30, scaler: -1 },
      ],
      periodList: [
        {
          valTime: { kind: "timestamp", timestamp: 0x5f5e1000 },
          status: 0n,
          valueList: [
            { value: { type: "int", value: 10000n, size: 8 }, valueSignature: undefined },
            { value: { type: "int", value: 0n, size: 8 }, valueSignature: undefined },
          ],
          periodSignature: undefined,
        },
      ],
      rawdata: undefined,
      profileSignature: undefined,
    });
    expectCanonical(h);
  });

  test("GetProcParameterRequest", () => {
    const h = `72 630500 75 ${SERVER} 01 01 71 078181c78201ff 01`;
    expect(body(h)).toEqual({
      kind: "GetProcParameterRequest",
      serverId,
      username: undefined,
      password: undefined,
      parameterTreePath: [hex("8181c78201ff")],
      attribute: undefined,
    });
    expectCanonical(h);
  });

  test("GetProcParameterResponse with a tree of several value kinds", () => {
    const h = `72 630501 73 ${SERVER} 71 078181c78201ff
      73 078181c78201ff 01
         72 73 078181c78202ff 72 6201 04414243 01
            73 078181c78203ff 72 6204 72 6202 655f5e1000
               71 73 078181c78204ff
                     72 6205 77 070100010800ff 01 01 621e 52ff 6500002710 01
                     01`;
    const b = body(h);
    expect(b).toEqual({
      kind: "GetProcParameterResponse",
      serverId,
      parameterTreePath: [hex("8181c78201ff")],
      parameterTree: {
        parameterName: hex("8181c78201ff"),
        parameterValue: undefined,
        childList: [
          {
            parameterName: hex("8181c78202ff"),
            parameterValue: { kind: "value", value: { type: "octets", value: hex("414243") } },
            childList: undefined,
          },
          {
            parameterName: hex("8181c78203ff"),
            parameterValue: { kind: "time", time: { kind: "timestamp", timestamp: 0x5f5e1000 } },
            childList: [
              {
                parameterName: hex("8181c78204ff"),
                parameterValue: {
                  kind: "listEntry",
                  listEntry: {
                    objName: hex("0100010800ff"),
                    status: undefined,
                    valTime: undefined,
                    unit: 30,
                    scaler: -1,
                    value: { type: "uint", value: 10000n, size: 4 },
                    valueSignature: undefined,
                  },
                },
                childList: undefined,
              },
            ],
          },
        ],
      },
    });
    expectCanonical(h);
  });

  test("SetProcParameterRequest with a period entry", () => {
    const h = `72 630600 75 ${SERVER} 01 01 71 078181c78205ff
      73 078181c78205ff 72 6202 75 070100010800ff 621e 52ff 590000000000000001 01 01`;
    const b = body(h);
    expect(b.kind).toBe("SetProcParameterRequest");
    if (b.kind !== "SetProcParameterRequest") return;
    expect(b.parameterTree.parameterValue).toEqual({
      kind: "periodEntry",
      periodEntry: {
        objName: hex("0100010800ff"),
        unit: 30,
        scaler: -1,
        value: { type: "int", value: 1n, size: 8 },
        valueSignature: undefined,
      },
    });
    expectCanonical(h);
  });

  test("AttentionResponse", () => {
    const h = `72 63ff01 74 ${SERVER} 078181c7c7fe03 04 6f6f70 01`;
    expect(body(h)).toEqual({
      kind: "AttentionResponse",
      serverId,
      attentionNo: hex("8181c7c7fe03"),
      attentionMsg: hex("6f6f70"),
      attentionDetails: undefined,
    });
    expectCanonical(h);
  });

  test("a body tag this codec does not model is kept as a tree", () => {
    const h = "72 630800 72 030401 6201";
    expect(body(h)).toEqual({
      kind: "Unknown",
      tag: 0x0800,
      content: {
        type: "list",
        items: [
          { type: "octets", value: hex("0401") },
          { type: "uint", value: 1n, size: 1 },
        ],
      },
    });
    expectCanonical(h);
  });

  test("a file of several messages, each with its own CRC", () => {
    const frame = handFrame(
      handMessage("03 0001", `72 630100 77 01 04616263 03f00d 01 01 01 01`),
      handMessage("03 0002", `72 630700 75 04616263 01 01 01 01`),
      handMessage("03 0003", "72 630200 71 01"),
    );
    const kinds = decodeSmlFile(frame).messages.map((m) => m.body.kind);
    expect(kinds).toEqual(["OpenRequest", "GetListRequest", "CloseRequest"]);
  });
});

describe("round trips", () => {
  const tupelTree: SmlMessageBody = {
    kind: "GetProcParameterResponse",
    serverId,
    parameterTreePath: [hex("8181c78600ff")],
    parameterTree: {
      parameterName: hex("8181c78600ff"),
      parameterValue: {
        kind: "tupelEntry",
        tupelEntry: {
          serverId,
          secIndex: { kind: "secIndex", secIndex: 1234 },
          status: 0x1c0104n,
          unitPA: 30,
          scalerPA: -1,
          valuePA: 123456789n,
          unitR1: 32,
          scalerR1: -1,
          valueR1: 1n,
          unitR4: 32,
          scalerR4: -1,
          valueR4: -2n,
          signaturePAR1R4: hex("aa"),
          unitMA: 30,
          scalerMA: 0,
          valueMA: 0n,
          unitR2: 32,
          scalerR2: 0,
          valueR2: 2n ** 62n,
          unitR3: 32,
          scalerR3: 3,
          valueR3: -(2n ** 63n),
          signatureMAR2R3: hex("bbcc"),
        },
      },
      childList: [],
    },
  };

  const messages: SmlMessage[] = [
    {
      transactionId: hex("01"),
      groupNo: 1,
      abortOnError: 2,
      body: { kind: "OpenRequest", clientId: hex("aa"), reqFileId: hex("bb"), codepage: hex("cc") },
    },
    { transactionId: hex("02"), groupNo: 0, abortOnError: 0, body: tupelTree },
    {
      transactionId: new Uint8Array(300).fill(0x1b),
      groupNo: 0,
      abortOnError: 0,
      body: { kind: "CloseResponse", globalSignature: new Uint8Array(64).fill(0x1b) },
    },
  ];

  test("encode → frame → decode keeps every field", () => {
    const file = decodeSmlFile(encodeSmlFile(messages));
    const strip = (ms: SmlMessage[]) => ms.map(({ crc16: _, ...rest }) => rest);
    // Undefined optional fields compare equal to missing ones.
    expect(strip(file.messages)).toEqual(messages);
  });

  test("sample frames decode, re-encode and decode to the same model", () => {
    for (const f of SAMPLE_FRAMES) {
      const file = decodeSmlFile(f);
      expect(file.messages.map((m) => m.body.kind)).toEqual([
        "OpenResponse",
        "GetListResponse",
        "CloseResponse",
      ]);
    }
    for (const p of SAMPLE_PAYLOADS) expectModelRoundTrip(p);
  });

  test("body tags as Unsigned32, a 48-byte octet string and 5-byte integers", () => {
    // Two 00 bytes after the last message are accepted.
    expect(toHex(TOLERANT_PAYLOAD.subarray(-6))).toMatch(/^63[0-9a-f]{4}000000$/);
    const ms = decodeSmlMessages(TOLERANT_PAYLOAD);
    expect(ms.map((m) => m.body.kind)).toEqual([
      "OpenResponse",
      "GetListResponse",
      "CloseResponse",
    ]);
    const list = ms[1]?.body;
    expect(list?.kind).toBe("GetListResponse");
    if (list?.kind !== "GetListResponse") return;
    const last = list.valList.at(-1);
    expect(last?.value).toEqual({ type: "octets", value: SAMPLE_PUBLIC_KEY });
    expect(list.valList[1]?.value).toEqual({ type: "int", value: 123456789n, size: 5 });
    expect(list.valList[0]?.value).toEqual({ type: "uint", value: 123456789n, size: 8 });
    // Re-encoded, the tags are Unsigned16 again: 63 0101 where 65 00000101 was.
    const again = toHex(encodeSmlMessages(ms));
    expect(again).toContain("72630101");
    expect(again).not.toContain("726500000101");
    expect(again).toContain(`8302${toHex(SAMPLE_PUBLIC_KEY)}`);
  });

  test("integers of every width from 1 to 8 bytes, signed and unsigned", () => {
    const list = decodeSmlMessages(WIDTH_PAYLOAD)[0]?.body;
    expect(list?.kind).toBe("GetListResponse");
    if (list?.kind !== "GetListResponse") return;
    expect(list.valList.map((e) => e.value)).toEqual(WIDTH_VALUES);
    expect(WIDTH_VALUES.map((v) => v.type === "int" && v.value < 0n)).toContain(true);
    // The encoder writes each value in the width it was read with.
    expectCanonical(WIDTH_BODY);
  });
});

describe("message errors", () => {
  const good = handMessage("03 0001", "72 630200 71 01");

  test("wrong message CRC, and the option to skip the check", () => {
    const bad = good.slice();
    xorByte(bad, -2, 0x10);
    const e = errorOf(() => decodeSmlMessages(bad));
    expect(e.kind).toBe("crc");
    expect(e.offset).toBe(bad.length - 4);
    expect(decodeSmlMessages(bad, { checkMessageCrc: false }).length).toBe(1);
  });

  test("server ID overwritten after encoding: frame CRC fine, message CRCs not", () => {
    expect(errorOf(() => decodeSmlFile(STALE_CRC_FRAME)).kind).toBe("crc");
    const f = decodeSmlFile(STALE_CRC_FRAME, { checkMessageCrc: false });
    expect(f.messages.map((m) => m.body.kind)).toEqual([
      "OpenResponse",
      "GetListResponse",
      "CloseResponse",
    ]);
    const list = f.messages[1]?.body;
    expect(list?.kind === "GetListResponse" && toHex(list.serverId)).toBe("00".repeat(10));
  });

  test("every truncation of a message is an SmlError", () => {
    const m = handMessage(
      "03 0001",
      `72 630701 77 01 ${SERVER} 01 01 71 77 070100010800ff 01 01 01 01 6201 01 01 01`,
    );
    expect(decodeSmlMessages(m).length).toBe(1);
    for (let n = 1; n < m.length; n++) {
      const e = errorOf(() => decodeSmlMessages(m.subarray(0, n)));
      expect(["truncated", "structure", "length"]).toContain(e.kind);
    }
  });

  test("wrong element counts", () => {
    expect(
      errorOf(() => decodeSmlMessages(handMessage("03 0001", "72 630200 72 01 01"))).kind,
    ).toBe("structure");
    expect(
      errorOf(() => decodeSmlMessages(hex("75 030001 6200 6200 72 630200 71 01 00"))).kind,
    ).toBe("structure");
    expect(
      errorOf(() => decodeSmlMessages(handMessage("03 0001", "73 630200 71 01 01"))).kind,
    ).toBe("structure");
  });

  test("wrong types", () => {
    // groupNo as octet string.
    expect(
      errorOf(() => decodeSmlMessages(hex("76 030001 0200 6200 72 630200 71 01 630000 00"))).kind,
    ).toBe("type");
    // body tag as boolean.
    expect(errorOf(() => decodeSmlMessages(handMessage("03 0001", "72 4201 71 01"))).kind).toBe(
      "type",
    );
    // unknown SML_Time choice.
    expect(
      errorOf(() =>
        decodeSmlMessages(
          handMessage("03 0001", `72 630101 76 01 01 0201 0201 72 6209 6500000000 01`),
        ),
      ).kind,
    ).toBe("value");
  });

  test("missing endOfSmlMsg", () => {
    const m = good.slice();
    m[m.length - 1] = 0x01;
    expect(errorOf(() => decodeSmlMessages(m)).kind).toBe("structure");
  });

  test("trailing bytes after the messages", () => {
    expect(decodeSmlMessages(concat(good, hex("000000"))).length).toBe(1);
    expect(errorOf(() => decodeSmlMessages(concat(good, hex("0001")))).kind).toBe("trailing");
  });

  test("deep nesting in a tree is bounded", () => {
    // An SML_Tree whose child list nests 100 trees deep.
    let tree = "73 0201 01 01";
    for (let i = 0; i < 100; i++) tree = `73 0201 01 71 ${tree}`;
    const m = handMessage("03 0001", `72 630501 73 0201 71 0201 ${tree}`);
    expect(errorOf(() => decodeSmlMessages(m)).kind).toBe("depth");
    expect(decodeSmlMessages(m, { maxDepth: 400 }).length).toBe(1);
  });

  test("a list claiming a billion entries fails without allocating", () => {
    const m = handMessage("03 0001", `72 630701 77 01 0201 01 01 ff8b8a8f8f8f8f0f`);
    expect(errorOf(() => decodeSmlMessages(m)).kind).toBe("length");
  });
});

describe("offsets and quirks", () => {
  test("decodeSmlFile reports message errors at frame offsets, escapes counted", () => {
    // A 4-byte aligned 1B1B1B1B block in the transaction ID is doubled on the wire.
    const m = handMessage("09 1b1b1b1b 1b1b1b1b", "72 630200 71 01");
    // payload: 76 09 1b×8 ...: aligned blocks at 0 (76 09 1b 1b), 4 (1b 1b 1b 1b) → escaped.
    const bad = m.slice();
    bad[bad.length - 1] = 0x05;
    const frame = handFrame(bad);
    const e = errorOf(() => decodeSmlFile(frame));
    expect(e.kind).toBe("structure");
    expect(frame[e.offset]).toBe(0x05);
    expect(e.message).toContain(`payload offset ${bad.length - 1}`);
  });

  test("a bare Unsigned32 where SML_Time belongs is read as a seconds index", () => {
    const b = body(`72 630701 77 01 ${SERVER} 01 650000abcd 70 01 01`);
    expect(b.kind === "GetListResponse" && b.actSensorTime).toEqual({
      kind: "secIndex",
      secIndex: 0xabcd,
    });
  });
});
