// The signing connection against a misbehaving IFM (testing/fake-ifm.ts, its own process):
// every answer, late answer, stray delivery, garbage, silence and hang-up ends in a signature or
// a clear IpcError within the deadline, never in a crash or a hang.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "@smgw/daemon";
import { IpcError } from "@smgw/ipc";
import type { Subprocess } from "bun";
import { SignLink } from "./sign-link.ts";

let dir: string;
let socketPath: string;
let server: Subprocess<"ignore", "pipe", "inherit">;
const serverOutput: string[] = [];
const logLines: string[] = [];
const log = createLogger("tcm", { write: (l) => logLines.push(l) });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "smgw-signlink-"));
  socketPath = path.join(dir, "ifm.sock");
  server = Bun.spawn(
    [process.execPath, path.join(import.meta.dir, "testing", "fake-ifm.ts"), socketPath],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = server.stdout.getReader();
  void (async () => {
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      serverOutput.push(...decoder.decode(value).split("\n").filter(Boolean));
    }
  })();
  for (let i = 0; i < 200 && !serverOutput.includes("fake ifm ready"); i++) await Bun.sleep(20);
  expect(serverOutput).toContain("fake ifm ready");
});

afterAll(() => {
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

function link(timeoutMs = 1000, onStrayDelivery?: () => void): SignLink {
  const l = new SignLink({
    socketPath,
    timeoutMs,
    log,
    ...(onStrayDelivery ? { onStrayDelivery } : {}),
  });
  l.open();
  return l;
}

function sign(l: SignLink, scenario: string) {
  return l.request("crypto", "crypto.sign", {
    key: scenario,
    algorithm: "ecdsa-sha256",
    digest: "00".repeat(32),
  });
}

function refusal(f: () => unknown): IpcError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IpcError);
    return e as IpcError;
  }
  throw new Error("expected an IpcError");
}

describe("answers", () => {
  test("the answer to the request is returned, synchronously", () => {
    const l = link();
    expect(sign(l, "answer")).toEqual({ signature: "3006020101020101" });
    expect(sign(l, "answer")).toEqual({ signature: "3006020101020101" });
    expect(l.stats.requests).toBe(2);
    l.close();
  });

  test("garbage, other ids and a split answer are read past; a stray delivery is answered", async () => {
    let strays = 0;
    const l = link(2000, () => strays++);
    expect(sign(l, "noisy")).toEqual({ signature: "3006020101020101" });
    expect(strays).toBe(1);
    expect(l.stats.strayDeliveries).toBe(1);
    for (let i = 0; i < 100 && !serverOutput.includes("stray answered"); i++) await Bun.sleep(10);
    expect(serverOutput).toContain("stray answered");
    expect(logLines.some((x) => x.includes("a delivery reached the signing connection"))).toBe(
      true,
    );
    // The connection is still good.
    expect(sign(l, "answer")).toEqual({ signature: "3006020101020101" });
    l.close();
  });

  test("an error answer becomes an IpcError with its code", () => {
    const l = link();
    const e = refusal(() => sign(l, "refuse"));
    expect(e.code).toBe("denied");
    expect(e.message).toContain("tcm may not sign");
    l.close();
  });

  test("an answer outside the contract is refused", () => {
    const l = link();
    expect(refusal(() => sign(l, "contract")).code).toBe("invalid-response");
    l.close();
  });
});

describe("failures end within the deadline", () => {
  test("silence: a timeout after timeoutMs, and a later answer is not taken for the next", () => {
    const l = link(300);
    const t0 = performance.now();
    expect(refusal(() => sign(l, "silent")).code).toBe("timeout");
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(1500);
    expect(sign(l, "answer")).toEqual({ signature: "3006020101020101" });
    l.close();
  });

  test("a hang-up: unavailable, and the link knows it is closed", () => {
    const l = link();
    expect(refusal(() => sign(l, "close")).code).toBe("unavailable");
    expect(l.isOpen).toBe(false);
    expect(refusal(() => sign(l, "answer")).code).toBe("unavailable");
    l.open();
    expect(sign(l, "answer")).toEqual({ signature: "3006020101020101" });
    l.close();
  });

  test("an oversized frame closes the link", () => {
    const l = link();
    expect(refusal(() => sign(l, "oversized")).code).toBe("unavailable");
    expect(l.isOpen).toBe(false);
  });

  test("random bytes from the IFM: an IpcError or (by chance) nothing, never a crash or a hang", () => {
    for (let seed = 0; seed < 60; seed++) {
      const l = link(200);
      const t0 = performance.now();
      try {
        sign(l, `random-${seed}`);
      } catch (e) {
        expect(e).toBeInstanceOf(IpcError);
        expect(["timeout", "unavailable", "invalid-response"]).toContain((e as IpcError).code);
      }
      expect(performance.now() - t0).toBeLessThan(1500);
      l.close();
    }
  });

  test("no IFM at the path: unavailable with the reason", () => {
    const l = new SignLink({ socketPath: path.join(dir, "nobody.sock"), log });
    const e = refusal(() => l.open());
    expect(e.code).toBe("unavailable");
    expect(e.message).toContain("ENOENT");
    expect(refusal(() => sign(l, "answer")).code).toBe("unavailable");
  });

  test("check() drains stray deliveries and notices a closed connection", async () => {
    const l = link();
    expect(l.check()).toBe(true);
    expect(refusal(() => sign(l, "close")).code).toBe("unavailable");
    expect(l.check()).toBe(false);
  });
});
