// Property tests: mutated documents never crash the engine (only TafError), and the engine
// conserves consumption on gapless data for any switching program.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { billDocuments } from "./bill.ts";
import { TafError } from "./errors.ts";
import {
  meterDataXml,
  quarterHourProfile,
  type ReadingSpec,
  steadyReadings,
  supplierXml,
} from "./test-helpers.ts";

const START = "2017-11-04T00:00:00+01:00";
/** Generous: the machine running CI may be slow. */
const FUZZ_TIMEOUT = 60_000;

const validMeterData = meterDataXml([
  { blocks: [{ start: START, duration: 86400, readings: steadyReadings(START, 97) }] },
]);

const validSupplier = supplierXml({
  useCase: 2,
  start: START,
  duration: 86400,
  stages: [
    { tariffNumber: 1, obis: "0100010801FF" },
    { tariffNumber: 2, obis: "0100010802FF" },
  ],
  dayProfiles: [
    quarterHourProfile("1", [
      ["00:00", 1],
      ["06:00", 2],
      ["21:00", 1],
    ]),
  ],
  specialDays: [{ date: "2017-11-04", dayId: "1" }],
});

/** Runs the engine; anything thrown must be a TafError with a kind and a message. */
function outcome(meterData: string, supplier: string): "ok" | "error" {
  try {
    const result = billDocuments(meterData, supplier);
    for (const r of result.registers) expect(Number.isSafeInteger(r.amount)).toBe(true);
    return "ok";
  } catch (error) {
    if (!(error instanceof TafError)) throw error;
    expect(error.kind.length).toBeGreaterThan(0);
    expect(error.message.length).toBeGreaterThan(0);
    return "error";
  }
}

const LEAF = /<([A-Za-z:_]+)>([^<]*)<\/\1>/g;

function leaves(xml: string): { start: number; end: number; name: string; text: string }[] {
  return [...xml.matchAll(LEAF)].map((m) => ({
    start: m.index ?? 0,
    end: (m.index ?? 0) + m[0].length,
    name: m[1] ?? "",
    text: m[2] ?? "",
  }));
}

const nastyText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    "",
    "-1",
    "0",
    "1e99",
    "NaN",
    "99999999999999999999999",
    "140737488355328",
    "-140737488355328",
    "2017-02-30T00:00:00Z",
    "2017-11-04T00:00:00",
    "2017-11-04T00:07:13+01:00",
    "1999-01-01T00:00:00Z",
    "0100010800FF",
    "010002083FFF",
    "FFFFFFFFFFFFFFFF",
    "A084000020000000",
    "65536",
    "&amp;",
    "<x/>",
  ),
);

/** A mutation of a document's text. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 200 }),
  }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.string({ maxLength: 20 }),
  }),
  fc.record({ op: fc.constant("leafText" as const), at: fc.nat(), text: nastyText }),
  fc.record({ op: fc.constant("dropLeaf" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("doubleLeaf" as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(xml: string, m: Mutation): string {
  const position = m.at % (xml.length + 1);
  switch (m.op) {
    case "truncate":
      return xml.slice(0, position);
    case "delete":
      return xml.slice(0, position) + xml.slice(position + m.length);
    case "insert":
      return xml.slice(0, position) + m.text + xml.slice(position);
    default: {
      const all = leaves(xml);
      const leaf = all[m.at % all.length];
      if (leaf === undefined) return xml;
      const whole = xml.slice(leaf.start, leaf.end);
      const replacement =
        m.op === "leafText"
          ? `<${leaf.name}>${m.text}</${leaf.name}>`
          : m.op === "dropLeaf"
            ? ""
            : whole + whole;
      return xml.slice(0, leaf.start) + replacement + xml.slice(leaf.end);
    }
  }
}

describe("mutated documents", () => {
  test("the unmutated pair is billed", () => {
    expect(outcome(validMeterData, validSupplier)).toBe("ok");
  });

  test(
    "mutated meter data never crashes",
    () => {
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
          const xml = ms.reduce(mutate, validMeterData);
          outcome(xml, validSupplier);
        }),
        { numRuns: 400 },
      );
    },
    FUZZ_TIMEOUT,
  );

  test(
    "mutated supplier documents never crash",
    () => {
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
          const xml = ms.reduce(mutate, validSupplier);
          outcome(validMeterData, xml);
        }),
        { numRuns: 400 },
      );
    },
    FUZZ_TIMEOUT,
  );

  test(
    "random bytes never crash",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          try {
            billDocuments(bytes, validSupplier);
          } catch (error) {
            expect(error).toBeInstanceOf(TafError);
          }
        }),
        { numRuns: 200 },
      );
    },
    FUZZ_TIMEOUT,
  );
});

describe("engine properties", () => {
  const tariffPattern = fc.array(fc.constantFrom(1, 2), { minLength: 96, maxLength: 96 });
  const increments = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 96, maxLength: 96 });

  function profileXml(tariffs: number[]): string {
    return supplierXml({
      useCase: 2,
      start: START,
      duration: 86400,
      stages: [
        { tariffNumber: 1, obis: "0100010801FF" },
        { tariffNumber: 2, obis: "0100010802FF" },
      ],
      dayProfiles: [
        {
          dayId: "1",
          entries: tariffs.map((t, q): [string, number] => [
            `${Math.floor(q / 4)}:${(q % 4) * 15}`,
            t,
          ]),
        },
      ],
      specialDays: [{ date: "2017-11-04", dayId: "1" }],
    });
  }

  function readingsFrom(steps: number[]): ReadingSpec[] {
    const readings = steadyReadings(START, 97);
    let value = 0;
    return readings.map((r, i) => {
      if (i > 0) value += steps[i - 1] ?? 0;
      return { ...r, value };
    });
  }

  test(
    "gapless data: the registers add up to the consumption, nothing is an error",
    () => {
      fc.assert(
        fc.property(tariffPattern, increments, (tariffs, steps) => {
          const readings = readingsFrom(steps);
          const meterData = meterDataXml([
            { blocks: [{ start: START, duration: 86400, readings }] },
          ]);
          const result = billDocuments(meterData, profileXml(tariffs));
          const total = steps.reduce((a, b) => a + b, 0);
          const [t1, t2, error] = result.registers.map((r) => r.amount);
          expect((t1 ?? 0) + (t2 ?? 0)).toBe(total);
          expect(error).toBe(0);
        }),
        { numRuns: 150 },
      );
    },
    FUZZ_TIMEOUT,
  );

  test(
    "any pattern of gaps and statuses gives registers or a TafError",
    () => {
      const damage = fc.array(
        fc.constantFrom("keep", "keep", "keep", "drop", "ptb3", "ptb4", "ptb2"),
        {
          minLength: 97,
          maxLength: 97,
        },
      );
      fc.assert(
        fc.property(tariffPattern, damage, (tariffs, marks) => {
          const readings = steadyReadings(START, 97).flatMap((r, i): ReadingSpec[] => {
            const mark = marks[i];
            if (mark === "drop") return [];
            if (mark === "ptb3") return [{ ...r, ptb: 3 }];
            if (mark === "ptb4") return [{ ...r, ptb: 4 }];
            if (mark === "ptb2") return [{ ...r, ptb: 2 }];
            return [r];
          });
          const meterData = meterDataXml([
            { blocks: [{ start: START, duration: 86400, readings }] },
          ]);
          outcome(meterData, profileXml(tariffs));
        }),
        { numRuns: 300 },
      );
    },
    FUZZ_TIMEOUT,
  );
});
