// Policies with chosen assignments of meters to consumers, made from the shipped policy through
// the YAML document model (as an installer or the GWA would edit it).
import { parseDocument } from "yaml";

export const CONSUMER_NAMES = ["alice", "bob", "carol", "dave"];

export function meterName(i: number): string {
  return `meter-${i + 1}`;
}

export function meterIdOf(i: number): string {
  return `1TST00000000${String(i + 1).padStart(2, "0")}`;
}

/**
 * The shipped policy's text with `meters` meters and `consumers` consumers; `owner[i]` is the
 * index of the consumer meter i is assigned to, or null for none.
 */
export function policyWith(
  shipped: string,
  meters: number,
  consumers: number,
  owner: readonly (number | null)[],
): string {
  const doc = parseDocument(shipped);
  for (const name of ["meter-1", "meter-2", "meter-3", "alice", "bob"]) {
    doc.deleteIn(["endpoints", name]);
  }
  for (let i = 0; i < meters; i++) {
    doc.setIn(
      ["endpoints", meterName(i)],
      doc.createNode({
        role: "meter",
        network: "LMN",
        addresses: [`198.51.100.${11 + i}`],
        credential: { kind: "meter-id", id: meterIdOf(i) },
      }),
    );
  }
  for (let c = 0; c < consumers; c++) {
    const own = Array.from({ length: meters }, (_, i) => i)
      .filter((i) => owner[i] === c)
      .map(meterName);
    doc.setIn(
      ["endpoints", CONSUMER_NAMES[c]],
      doc.createNode({
        role: "consumer",
        network: "HAN",
        addresses: [`203.0.113.${10 + c}`],
        credential: { kind: "password" },
        ...(own.length ? { meters: own } : {}),
      }),
    );
  }
  return doc.toString();
}
