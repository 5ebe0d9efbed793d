// The foundation's end-to-end slices in real namespaces, as root: readings from a simulated
// meter on the LMN reach a HAN client through meter -> IFM -> storage -> display; a denied
// flow is refused and logged; another user cannot reach a unit's socket; stopping leaves
// nothing behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { type RunningHostMode, startHostMode } from "./testing.ts";

const isRoot = process.getuid?.() === 0;
const NAME = `smgwt${process.pid % 100000}`;
const PROBE = path.join(import.meta.dir, "fixtures", "ipc-probe.py");
const HAN_GW = "203.0.113.1";
/** Each HAN user's requests come from that user's device (the policy's address for it). */
const HAN_FROM: Record<string, string> = {
  alice: "203.0.113.10",
  bob: "203.0.113.11",
  technician: "203.0.113.40",
  mallory: "203.0.113.10",
};

let hm: RunningHostMode | undefined;
let up: RunningHostMode["proc"] | undefined;
let output: string[] = [];
let passwords: Record<string, string> = {};

function sh(cmd: string[]): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

function han(user: string, urlPath: string): { status: number; body: unknown } {
  const r = sh([
    "ip",
    "netns",
    "exec",
    `${NAME}-han`,
    "curl",
    "-s",
    "-m",
    "10",
    "--interface",
    HAN_FROM[user] ?? "203.0.113.10",
    "-u",
    `${user}:${passwords[user]}`,
    "-w",
    "\n%{http_code}",
    `http://${HAN_GW}:8080${urlPath}`,
  ]);
  const lines = r.out.trimEnd().split("\n");
  const status = Number(lines.pop());
  const text = lines.join("\n");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status, body };
}

function probeAs(user: string, unit: string, request: unknown): Record<string, unknown> {
  const r = sh([
    "setpriv",
    `--reuid=${user}`,
    `--regid=${user === "nobody" ? "nogroup" : user}`,
    "--clear-groups",
    "/usr/bin/python3",
    PROBE,
    `/run/${NAME}/ipc/${unit}/ifm.sock`,
    JSON.stringify(request),
  ]);
  return JSON.parse(r.out.trim() || JSON.stringify({ probe_failed: r.err }));
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${output.join("")}`);
    await Bun.sleep(250);
  }
}

describe.skipIf(!isRoot)("host mode (needs root)", () => {
  beforeAll(async () => {
    // Tariff profiles at 10 s periods and TAF7 deliveries every 20 s, to watch them at work.
    hm = await startHostMode(NAME, { tafPeriodSeconds: 10, tafDeliverySeconds: 20 });
    up = hm.proc;
    output = hm.output;
    passwords = hm.passwords;
  }, 300_000);

  afterAll(async () => {
    await hm?.stop();
  }, 60_000);

  test("every unit runs as its own user in the gateway namespace", () => {
    const pids = sh(["ip", "netns", "pids", `${NAME}-gw`])
      .out.split(/\s+/)
      .filter(Boolean);
    const users = new Set<string>();
    for (const pid of pids) {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      const name = sh(["getent", "passwd", uid ?? ""]).out.split(":")[0];
      if (name) users.add(name);
    }
    expect([...users].sort()).toEqual(
      ["admin", "cls", "crypto", "display", "ifm", "meter", "net", "storage", "sysmgmt", "tcm"].map(
        (u) => `smgw-${u}`,
      ),
    );
  });

  test("readings slice: LMN meter -> meter -> IFM -> storage -> display -> HAN client", async () => {
    const body = await waitFor(
      "readings of meter-1 on the HAN",
      () => {
        const r = han("alice", "/api/v1/meters/meter-1/readings?obis=1-0:1.8.0*255");
        const readings = (r.body as { readings?: { value: number; capturedAt: string }[] })
          .readings;
        return r.status === 200 && readings && readings.length >= 2 ? readings : undefined;
      },
      60_000,
    );
    expect(body[0]).toMatchObject({ obis: "1-0:1.8.0*255", unit: "Wh" });
    expect((body[1]?.value ?? 0) >= (body[0]?.value ?? 0)).toBe(true);
    const meters = han("alice", "/api/v1/meters");
    expect(meters.status).toBe(200);
    expect((meters.body as { meters: { meter: string }[] }).meters.map((m) => m.meter)).toEqual([
      "meter-1",
      "meter-2",
      "wmbus-1",
      "wmbus-2",
    ]);
  });

  // wmbus-3 (heat, mode 7) sends every message in two AFL fragments (host mode's choice), so its
  // readings show the radio's reassembly at work.
  test("eight meters, SML and wireless M-Bus (OMS mode 5 and 7), deliver readings", async () => {
    const counts = await waitFor("readings of all eight meters", () => {
      const all: Record<string, number> = {};
      for (const user of ["alice", "bob"]) {
        const r = han(user, "/api/v1/meters");
        for (const m of (r.body as { meters?: { meter: string; readings: number }[] }).meters ?? [])
          all[m.meter] = m.readings;
      }
      return Object.keys(all).length === 8 && Object.values(all).every((n) => n > 0)
        ? all
        : undefined;
    });
    expect(Object.keys(counts).sort()).toEqual([
      "meter-1",
      "meter-2",
      "meter-3",
      "wmbus-1",
      "wmbus-2",
      "wmbus-3",
      "wmbus-4",
      "wmbus-5",
    ]);
    // The gas meter's volume register, from a mode 7 telegram, as bob sees it.
    const gas = han("bob", "/api/v1/meters/wmbus-4/readings?obis=7-0:3.0.0*255&limit=5");
    expect(gas.status).toBe(200);
    expect((gas.body as { readings: { unit: string }[] }).readings[0]?.unit).toBe("m³");
  });

  test("the tariff profiles deliver signed documents to the simulated EMTs", async () => {
    const index = (emt: string) => {
      const f = `/var/lib/${NAME}/emt/${emt}/index.jsonl`;
      if (!existsSync(f)) return [];
      return readFileSync(f, "utf8")
        .split("\n")
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as { signer: string; delivery: string; client: string; file: string },
        );
    };
    const meterIdsIn = (file: string) =>
      [...readFileSync(file, "utf8").matchAll(/<meterId>([^<]+)<\/meterId>/g)].map((m) => m[1]);
    // TAF7 for the grid operator: every meter, pseudonymised.
    const grid = await waitFor(
      "TAF7 deliveries of all eight meters at the DSO",
      () => {
        const got = index("emt-dso");
        const ids = new Set(got.flatMap((r) => meterIdsIn(r.file)));
        return ids.size >= 8 ? { got, ids } : undefined;
      },
      120_000,
    );
    expect([...grid.ids].every((id) => /^GRID-PSEUDO-0001-[1-8]$/.test(id ?? ""))).toBe(true);
    for (const r of grid.got) {
      // The EMT checked each CMS signature (openssl cms -verify) against the test SM-PKI.
      expect(r.signer).toBe("CN=smgw-1,OU=SIG,O=SMGW-Test-Operator,C=DE");
      expect(r.client).toBe("CN=smgw-1,OU=WAN,O=SMGW-Test-Operator,C=DE");
      expect(r.delivery).toStartWith("GRID-PSEUDO-0001/taf7-grid/");
      const xml = readFileSync(r.file, "utf8");
      for (const secret of ["1ESY", "1EMH", "XSM3", "smgw-1", "alice", "bob"]) {
        expect(xml).not.toContain(secret);
      }
    }
    // TAF7 for the supplier: the electricity meters under their own identities.
    const supplier = await waitFor("TAF7 deliveries at the supplier", () => {
      const ids = new Set(index("emt-supplier").flatMap((r) => meterIdsIn(r.file)));
      return ids.size >= 5 ? ids : undefined;
    });
    expect([...supplier].sort()).toEqual(
      ["1EMH0012345673", "1ESY1161234561", "1ESY1161234562", "XSM30000001", "XSM30000005"].sort(),
    );
    // The consumer learns of it in their log.
    const log = han("alice", "/api/v1/log?limit=1000");
    const texts = (log.body as { entries: { text: string }[] }).entries.map((e) => e.text);
    expect(texts.some((t) => t.includes("to emt-dso") && t.includes("taf7-grid"))).toBe(true);
  }, 150_000);

  test("TAF2 and TAF1 registers run on the live readings and are shown to their consumer", () => {
    const taf2 = han("alice", "/api/v1/meters/meter-1/tariff-registers");
    expect(taf2.status).toBe(200);
    const t2 = taf2.body as { tariff: { useCase: number }; registers: { obis: string }[] };
    expect(t2.tariff.useCase).toBe(2);
    expect(t2.registers.map((r) => r.obis)).toEqual([
      "1-0:1.8.1*255",
      "1-0:1.8.2*255",
      "1-0:1.8.63*255",
    ]);
    const taf1 = han("bob", "/api/v1/meters/meter-3/tariff-registers");
    expect((taf1.body as { tariff: { useCase: number } }).tariff.useCase).toBe(1);
    expect(han("alice", "/api/v1/meters/meter-3/tariff-registers").status).toBe(404);
    // The calibration log: the tariff each billing profile runs on, by its file's hash, shown
    // to the consumer of that meter only.
    type Calibration = {
      entries: { event: string; meter?: string; detail: Record<string, unknown> }[];
    };
    const alice = han("alice", "/api/v1/calibration-log?limit=1000");
    expect(alice.status).toBe(200);
    const tariffs = (alice.body as Calibration).entries.filter(
      (e) => e.event === "tariff.configured",
    );
    expect(tariffs.map((e) => e.meter)).toContain("meter-1");
    expect(tariffs.find((e) => e.meter === "meter-1")?.detail).toMatchObject({
      profile: "taf2-alice",
      useCase: 2,
    });
    expect(String(tariffs[0]?.detail.sha256)).toMatch(/^[0-9a-f]{64}$/);
    const bob = han("bob", "/api/v1/calibration-log?limit=1000");
    const bobs = (bob.body as Calibration).entries;
    expect(
      bobs
        .filter((e) => e.event === "tariff.configured")
        .map((e) => e.meter)
        .sort(),
    ).toEqual(["meter-3", "wmbus-5"]);
    expect(bobs.some((e) => e.meter === "meter-1")).toBe(false);
    expect(han("alice", "/api/v1/calibration-log?meter=meter-3").status).toBe(404);
    expect(han("technician", "/api/v1/calibration-log").status).toBe(403);
  });

  test("the consumer log shows the consumer what went where, and only theirs", () => {
    const log = han("alice", "/api/v1/log");
    expect(log.status).toBe(200);
    const entries = (log.body as { entries: { consumer: string; meter?: string; text: string }[] })
      .entries;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.consumer === "alice")).toBe(true);
    expect(
      entries.some((e) => e.meter === "meter-1" && e.text.includes("meter-reading to display")),
    ).toBe(true);
    const bob = han("bob", "/api/v1/log");
    const bobs = (bob.body as { entries: { consumer: string }[] }).entries;
    expect(bobs.every((e) => e.consumer === "bob")).toBe(true);
  });

  test("a consumer cannot see another consumer's meter; the technician sees no readings", () => {
    expect(han("alice", "/api/v1/meters/meter-3/readings").status).toBe(404);
    expect(han("bob", "/api/v1/meters/meter-1/readings").status).toBe(404);
    expect(han("bob", "/api/v1/meters/meter-3/readings").status).toBe(200);
    expect(han("technician", "/api/v1/meters").status).toBe(403);
    const status = han("technician", "/api/v1/status");
    expect(status.status).toBe(200);
    expect((status.body as { units: Record<string, { state: string }> }).units.meter?.state).toBe(
      "ok",
    );
    expect(han("alice", "/api/v1/meters/meter-1/readings?from=yesterday").status).toBe(400);
    expect(han("alice", "/api/v1/meters/meter-1/readings?limit=5000").status).toBe(400);
    expect(han("alice", "/api/v1/meters/meter-1/readings?x=1").status).toBe(400);
    expect(han("mallory", "/api/v1/meters").status).toBe(401);
  });

  test("denied slice: meter -> cls is refused by the IFM and logged", async () => {
    const reply = probeAs("smgw-meter", "meter", {
      kind: "request",
      id: "probe-1",
      to: "cls",
      type: "cls.relay",
      body: { device: "heatpump", channel: "c1", data: "hello" },
    });
    expect(reply).toMatchObject({
      kind: "response",
      id: "probe-1",
      ok: false,
      error: { code: "denied" },
    });
    const line = await waitFor("the denial in the IFM's log", () =>
      readFileSync(`/run/${NAME}/log/ifm.log`, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.event === "flow.denied" && l.from === "meter" && l.to === "cls"),
    );
    expect(line).toMatchObject({ unit: "ifm", level: "warn", type: "cls.relay" });
  });

  test("another unit cannot read the storage's files; the stores are encrypted", () => {
    const dir = `/var/lib/${NAME}/state/storage/secure`;
    const r = sh([
      "setpriv",
      "--reuid=smgw-display",
      "--regid=smgw-display",
      "--clear-groups",
      "ls",
      dir,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("Permission denied");
    // Readings are in the meter domain's store, encrypted: no OBIS code in the clear on disk.
    const files = sh(["find", dir, "-name", "*.sqlite*", "-type", "f"])
      .out.trim()
      .split("\n")
      .filter(Boolean);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f).includes("1-0:1.8.0*255")).toBe(false);
  });

  test("a process of another user cannot connect to a unit's socket", () => {
    expect(probeAs("smgw-display", "meter", {})).toMatchObject({
      connect_error: "PermissionError",
    });
    expect(probeAs("nobody", "storage", {})).toMatchObject({ connect_error: "PermissionError" });
    // The unit's own user can.
    expect(
      probeAs("smgw-meter", "meter", {
        kind: "request",
        id: "s",
        to: "sysmgmt",
        type: "status.get",
        body: {},
      }),
    ).toMatchObject({
      ok: false,
      error: { code: "denied" },
    });
  });

  test("restart-safe: a killed unit is restarted and the slice works again", async () => {
    const count = () => {
      const r = han("alice", "/api/v1/meters");
      const m = (r.body as { meters?: { meter: string; readings: number }[] }).meters;
      return r.status === 200 ? (m?.find((x) => x.meter === "meter-1")?.readings ?? 0) : undefined;
    };
    for (const unit of ["storage", "ifm"]) {
      const pid = sh([
        "pgrep",
        "-u",
        `smgw-${unit}`,
        "-f",
        `/var/lib/${NAME}/bin/smgwd ${unit}`,
      ]).out.trim();
      expect(pid).toMatch(/^\d+$/);
      process.kill(Number(pid), "SIGKILL");
      await waitFor(`${unit} to be restarted`, () => {
        const again = sh([
          "pgrep",
          "-u",
          `smgw-${unit}`,
          "-f",
          `/var/lib/${NAME}/bin/smgwd ${unit}`,
        ]).out.trim();
        return again && again !== pid ? again : undefined;
      });
      const before = await waitFor("the HAN API to answer again", count);
      await waitFor("new readings after the restart", () => {
        const now = count();
        return now !== undefined && now > before ? now : undefined;
      });
    }
    expect(output.join("")).toContain("storage exited");
  }, 90_000);

  test("stopping removes every namespace and process", async () => {
    up?.kill("SIGINT");
    await Promise.race([up?.exited, Bun.sleep(30_000)]);
    expect(up?.exitCode).toBe(0);
    const ns = sh(["ip", "netns", "list"]).out;
    expect(ns).not.toContain(`${NAME}-`);
    for (const u of ["meter", "ifm", "storage", "display"]) {
      expect(sh(["pgrep", "-u", `smgw-${u}`, "-f", `/var/lib/${NAME}/`]).code).toBe(1);
    }
    expect(existsSync(`/run/${NAME}`)).toBe(false);
  }, 60_000);
});
