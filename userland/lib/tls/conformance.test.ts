// Conformance probe of our listener from outside: every cipher suite the local OpenSSL knows is
// offered alone; exactly the four profile suites get a ServerHello. TLS 1.3, 1.1 and 1.0 get
// none. testssl.sh (--protocols) runs too when SMGW_TLS_TESTSSL=1 and it is installed: it takes
// about ten seconds, so it stays out of the default run.
import { afterAll, describe, expect, test } from "bun:test";
import { listenTls } from "./channel.ts";
import type { TlsError } from "./errors.ts";
import { TR03116_TLS12_SUITES } from "./profile.ts";
import { clientIdentityArgs, endpoint, openssl } from "./test-support.ts";

const PROBE_GROUPS = "brainpoolP256r1:brainpoolP384r1:brainpoolP512r1:prime256v1:secp384r1";

const refusals: TlsError[] = [];
const listener = listenTls({
  port: 0,
  ...endpoint("smgw"),
  onConnection(channel) {
    channel.close();
  },
  onRefused(error) {
    refusals.push(error);
  },
});
afterAll(() => listener.stop(true));

function probe(args: string[]) {
  return openssl(
    [
      "s_client",
      ...["-connect", `127.0.0.1:${listener.port}`, "-groups", PROBE_GROUPS, "-msg"],
      ...clientIdentityArgs("gwa"),
      ...args,
    ],
    "",
  );
}

async function tls12Ciphers(): Promise<string[]> {
  const run = await openssl(["ciphers", "-V", "ALL:COMPLEMENTOFALL"]);
  const names: string[] = [];
  for (const line of run.stdout.split("\n")) {
    const m = /^\s*0x[0-9A-F]{2},0x[0-9A-F]{2} - (\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2] !== "TLSv1.3") names.push(m[1]);
  }
  return names;
}

describe("cipher suite probe", () => {
  test("exactly the four TR-03116-3 suites get a ServerHello", async () => {
    const ciphers = await tls12Ciphers();
    expect(ciphers.length).toBeGreaterThan(50);
    const accepted: string[] = [];
    const queue = [...ciphers];
    const workers = Array.from({ length: 6 }, async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        const run = await probe(["-tls1_2", "-cipher", `${c}:@SECLEVEL=0`]);
        if (run.stdout.includes("ServerHello")) accepted.push(c);
      }
    });
    await Promise.all(workers);
    expect(accepted.sort()).toEqual([...TR03116_TLS12_SUITES].sort());
    const reasons = new Set(refusals.map((e) => e.reason));
    expect(reasons.has("no shared cipher")).toBe(true);
  }, 120_000);

  for (const [name, args] of [
    ["TLS 1.3", ["-tls1_3"]],
    ["TLS 1.1", ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"]],
    ["TLS 1.0", ["-tls1", "-cipher", "ALL:@SECLEVEL=0"]],
  ] as const) {
    test(`${name} gets no ServerHello`, async () => {
      const before = refusals.length;
      const run = await probe([...args]);
      expect(run.stdout).toContain("ClientHello");
      expect(run.stdout).not.toContain("ServerHello");
      for (let i = 0; i < 100 && refusals.length === before; i++) await Bun.sleep(10);
      expect(refusals[before]?.reason).toBe("unsupported protocol");
    });
  }
});

const testssl = Bun.which("testssl") ?? Bun.which("testssl.sh");
describe.skipIf(process.env.SMGW_TLS_TESTSSL !== "1" || testssl === null)("testssl.sh", () => {
  test("offers TLS 1.2 only", async () => {
    const proc = Bun.spawn(
      [
        testssl as string,
        "--protocols",
        "--quiet",
        "--color",
        "0",
        "--warnings",
        "off",
        `127.0.0.1:${listener.port}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    const line = (p: string) => out.split("\n").find((l) => l.trimStart().startsWith(p)) ?? "";
    for (const p of ["SSLv2", "SSLv3", "TLS 1 ", "TLS 1.1", "TLS 1.3"])
      expect(line(p)).toContain("not offered");
    expect(line("TLS 1.2")).toContain("offered (OK)");
  }, 120_000);
});
