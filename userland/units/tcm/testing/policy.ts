// A test variant of the shipped policy: the same units, endpoints and flows, with the networks
// moved onto loopback addresses (127.0.0.0/8 is local as a whole) and the ports onto free high
// ones, so that simulated peers can listen where the policy puts them without root. The HAN
// holds 127.0.0.1 as the CLS device's address (the source of a local connection). A display
// TLS flow is added, which the shipped policy does not have yet.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadPolicyFile, type Policy } from "@smgw/policy";
import YAML from "yaml";

export const SHIPPED_POLICY = path.resolve(import.meta.dir, "../../../../policy/smgw.policy.yaml");

export interface TestPorts {
  /** Every outbound WAN flow (the policy's 443). */
  wan: number;
  /** The CLS proxy's TLS listener (the policy's 8443). */
  cls: number;
  /** The display's TLS listener (added). */
  displayTls: number;
  /** The display's own HTTP listener (the policy's 8080). */
  display: number;
  /** The meters' LMN listener. */
  lmn: number;
  /** The wireless M-Bus radio receiver. */
  radio: number;
}

export const GATEWAY = { WAN: "127.0.10.1", HAN: "127.0.11.1", LMN: "127.0.12.1" } as const;

const ADDRESSES: Record<string, string> = {
  gwa: "127.0.10.10",
  "emt-supplier": "127.0.10.20",
  "emt-dso": "127.0.10.21",
  heatpump: "127.0.0.1",
  alice: "127.0.11.10",
  bob: "127.0.11.11",
  technician: "127.0.11.40",
  "meter-1": "127.0.12.11",
  "meter-2": "127.0.12.12",
  "meter-3": "127.0.12.13",
  "wmbus-1": "127.0.12.21",
  "wmbus-2": "127.0.12.22",
  "wmbus-3": "127.0.12.23",
  "wmbus-4": "127.0.12.24",
  "wmbus-5": "127.0.12.25",
};

/** Random distinct high ports. */
export function randomPorts(): TestPorts {
  const base = 20_000 + Math.floor(Math.random() * 4000) * 10;
  return {
    wan: base,
    cls: base + 1,
    displayTls: base + 2,
    display: base + 3,
    lmn: base + 4,
    radio: base + 5,
  };
}

interface FlowDoc {
  id: string;
  transport?: { protocol: string; port: number; tls?: boolean };
  [k: string]: unknown;
}

/** Writes the test policy to `file` and loads it. */
export async function writeTestPolicy(file: string, ports: TestPorts): Promise<Policy> {
  const doc = YAML.parse(readFileSync(SHIPPED_POLICY, "utf8")) as {
    networks: Record<string, { address: string }>;
    endpoints: Record<string, { addresses: string[] }>;
    flows: FlowDoc[];
  };
  doc.networks.WAN = { ...doc.networks.WAN, address: `${GATEWAY.WAN}/24` } as never;
  doc.networks.HAN = { ...doc.networks.HAN, address: `${GATEWAY.HAN}/16` } as never;
  doc.networks.LMN = { ...doc.networks.LMN, address: `${GATEWAY.LMN}/24` } as never;
  for (const [name, endpoint] of Object.entries(doc.endpoints)) {
    const address = ADDRESSES[name];
    if (!address) throw new Error(`no test address for endpoint ${name}`);
    endpoint.addresses = [address];
  }
  for (const flow of doc.flows) {
    const t = flow.transport;
    if (!t) continue;
    if (t.port === 443) t.port = ports.wan;
    else if (t.port === 8443) t.port = ports.cls;
    else if (t.port === 8080) t.port = ports.display;
    else if (t.port === 7259) t.port = ports.lmn;
    else if (t.port === 7260) t.port = ports.radio;
  }
  doc.flows.push({
    id: "han-consumer-display-tls",
    from: "role:consumer",
    to: "display",
    network: "HAN",
    transport: { protocol: "tcp", port: ports.displayTls, tls: true },
    carries: [
      "meter-reading",
      "meter-list",
      "tariff-result",
      "consumer-log-entry",
      "gateway-status",
    ],
    rule: "PP-HAN-1",
    why: "Consumers reach the display over TLS the TCM terminates.",
  });
  writeFileSync(file, YAML.stringify(doc));
  return loadPolicyFile(file);
}
