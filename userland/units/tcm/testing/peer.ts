// A simulated TLS peer of the gateway (a GWA or EMT server) over @smgw/tls: it checks the
// gateway's certificate against the test SM-PKI and echoes what it receives, prefixed, so tests
// see both directions. It records the gateway subjects it saw.
//
// Run in a namespace for host mode:
//   ip netns exec NAME-wan bun peer.ts --policy FILE --pki DIR --entity emt-supplier \
//     --address 192.0.2.20 --port 443
import { loadPolicyFile } from "@smgw/policy";
import {
  createTestPki,
  type IssuedCertificate,
  listenTls,
  type TestPki,
  type TlsListener,
  type TlsProfile,
  tr03116Profile,
} from "@smgw/tls";
import { policyEntities } from "../provision.ts";

export interface SimulatedPeer {
  readonly listener: TlsListener;
  /** Subjects of the gateways that completed a handshake. */
  readonly clients: string[];
  /** Why handshakes failed. */
  readonly refusals: string[];
  stop(): void;
}

export interface PeerOptions {
  address: string;
  port: number;
  pki: TestPki;
  /** The certificate the peer presents. */
  identity: IssuedCertificate;
  profile?: TlsProfile;
  /** Prefix of every echo. Default "echo:". */
  prefix?: string;
}

export function startPeer(o: PeerOptions): SimulatedPeer {
  const clients: string[] = [];
  const refusals: string[] = [];
  const prefix = Buffer.from(o.prefix ?? "echo:");
  const listener = listenTls({
    hostname: o.address,
    port: o.port,
    profile: o.profile ?? tr03116Profile(),
    ca: o.pki.trustAnchor,
    cert: o.identity.chain,
    key: { kind: "file", path: o.identity.key },
    crl: o.pki.crlBundle,
    onConnection(channel) {
      clients.push(channel.peer.subject);
      channel.on("data", (data) => {
        if (channel.isOpen) channel.send(Buffer.concat([prefix, data]));
      });
    },
    onRefused(error) {
      refusals.push(`${error.kind}: ${error.reason}`);
    },
  });
  return { listener, clients, refusals, stop: () => listener.stop(true) };
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? process.argv[i + 1] : undefined;
    if (!v) {
      console.error(
        "usage: bun peer.ts --policy FILE --pki DIR --entity NAME --address A --port P",
      );
      process.exit(2);
    }
    return v;
  };
  const policy = await loadPolicyFile(arg("policy"));
  const pki = createTestPki(arg("pki"), { entities: policyEntities(policy) });
  const peer = startPeer({
    address: arg("address"),
    port: Number(arg("port")),
    pki,
    identity: pki.entity(arg("entity")),
  });
  console.log(`peer ${arg("entity")} on ${arg("address")}:${peer.listener.port}`);
  setInterval(() => {
    if (peer.clients.length > 0)
      console.log(`gateways seen: ${[...new Set(peer.clients)].join("; ")}`);
    for (const r of peer.refusals.splice(0)) console.log(`refused: ${r}`);
  }, 5000);
}
