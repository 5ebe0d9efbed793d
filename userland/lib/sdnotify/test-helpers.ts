// Shared helpers for this package's tests.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NotifyListener, SenderCredentials } from "./listener.ts";
import type { NotifyProblem } from "./message.ts";

export interface Received {
  fields: Record<string, string>;
  raw: string;
  sender: SenderCredentials | undefined;
}

let counter = 0;

/** A fresh directory for socket files; short, since sun_path holds 107 bytes. */
export function socketDirectory(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "sdn-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function uniqueAbstractName(): string {
  counter++;
  return `smgw-sdnotify-test-${process.pid}-${counter}`;
}

/** Attaches collectors for messages and problems to a listener. */
export function collect(listener: NotifyListener): {
  messages: Received[];
  problems: NotifyProblem[];
} {
  const messages: Received[] = [];
  const problems: NotifyProblem[] = [];
  listener.onMessage((fields, raw, sender) =>
    messages.push({ fields: { ...fields }, raw, sender }),
  );
  listener.onProblem((problem) => problems.push(problem));
  return { messages, problems };
}

/** Resolves once `condition` holds; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}

export function countOpenFds(): number {
  return readdirSync("/proc/self/fd").length;
}
