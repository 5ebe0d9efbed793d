// Interoperability with an independent implementation: openssl s_server and s_client, mutual
// authentication, each of the four TR-03116-3 suites on each brainpool curve (certificate and
// key exchange group), in both directions.
import { describe, expect, test } from "bun:test";
import { connectTls, listenTls, type TlsChannel } from "./channel.ts";
import { BRAINPOOL_GROUPS, TR03116_TLS12_SUITES } from "./profile.ts";
import {
  clientIdentityArgs,
  endpoint,
  openssl,
  startOpenSslServer,
  testPki,
} from "./test-support.ts";

const usageFor = (curve: string) => (curve === "brainpoolP256r1" ? "tls" : `tls-${curve}`);

describe("our client against openssl s_server", () => {
  for (const suite of TR03116_TLS12_SUITES) {
    for (const curve of BRAINPOOL_GROUPS) {
      test(`${suite} over ${curve}`, async () => {
        const smgw = testPki().entity("smgw", usageFor(curve));
        const server = await startOpenSslServer([
          ...["-cert", smgw.cert, "-cert_chain", smgw.issuer, "-key", smgw.key],
          ...["-CAfile", testPki().trustAnchor, "-Verify", "3", "-verify_return_error"],
          ...["-tls1_2", "-cipher", suite, "-groups", curve, "-rev", "-naccept", "1"],
        ]);
        try {
          const channel = await connectTls({
            host: "127.0.0.1",
            port: server.port,
            ...endpoint("gwa", usageFor(curve)),
          });
          expect(channel.peer.protocol).toBe("TLSv1.2");
          expect(channel.peer.cipher).toBe(suite);
          expect(channel.peer.group).toBe(curve);
          expect(channel.peer.extendedMasterSecret).toBe(true);
          expect(channel.peer.subject).toBe("CN=smgw-1,O=SMGW-Test-Operator,C=DE");
          channel.send("gateway\n");
          const answer = await channel.receive();
          expect(answer?.toString()).toBe("yawetag\n");
          channel.close();
          expect(await channel.closed).toBeUndefined();
          const log = await server.output();
          expect(log).toContain("Peer certificate: C = DE, O = GWA-Test, CN = gwa-1");
          expect(log).toContain(`Ciphersuite: ${suite}`);
        } finally {
          server.stop();
        }
      });
    }
  }
});

describe("openssl s_client against our listener", () => {
  for (const suite of TR03116_TLS12_SUITES) {
    for (const curve of BRAINPOOL_GROUPS) {
      test(`${suite} over ${curve}`, async () => {
        const seen: TlsChannel[] = [];
        const listener = listenTls({
          port: 0,
          ...endpoint("smgw", usageFor(curve)),
          onConnection(channel) {
            seen.push(channel);
            channel.on("data", (data) => {
              channel.send(Buffer.concat([Buffer.from("echo:"), data]));
              channel.close();
            });
          },
        });
        try {
          const run = await openssl(
            [
              "s_client",
              ...[
                "-connect",
                `127.0.0.1:${listener.port}`,
                "-tls1_2",
                "-cipher",
                suite,
                "-groups",
                curve,
              ],
              ...clientIdentityArgs("gwa", usageFor(curve)),
              ...["-verify_return_error", "-verify_ip", "127.0.0.1", "-ign_eof"],
            ],
            "meter reading\n",
          );
          expect(run.stdout).toContain("echo:meter reading");
          expect(run.stdout).toContain("Verify return code: 0 (ok)");
          expect(run.stdout).toContain("Extended master secret: yes");
          expect(seen.length).toBe(1);
          const peer = seen[0]?.peer;
          expect(peer?.cipher).toBe(suite);
          expect(peer?.group).toBe(curve);
          expect(peer?.subject).toBe("CN=gwa-1,O=GWA-Test,C=DE");
        } finally {
          listener.stop(true);
        }
      });
    }
  }
});
