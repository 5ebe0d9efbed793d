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
  const endpoints = doc.getIn(["endpoints"]) as { items: { key: { value: string } }[] };
  for (const name of endpoints.items.map((i) => i.key.value)) {
    if (/^(meter-|wmbus-)/.test(name) || name === "alice" || name === "bob") {
      doc.deleteIn(["endpoints", name]);
    }
  }
  // The world's meters are all SML meters on the LMN listener; no profiles name them.
  doc.deleteIn(["profiles"]);
  const flows = doc.getIn(["flows"]) as { items: { get(k: string): unknown }[] };
  const radio = flows.items.findIndex((f) => f.get("id") === "lmn-wmbus-radio");
  if (radio >= 0) doc.deleteIn(["flows", radio]);
  const sml = flows.items.findIndex((f) => f.get("id") === "lmn-meter-readings");
  doc.setIn(["flows", sml, "from"], "role:meter");
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
