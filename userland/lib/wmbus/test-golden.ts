/** Test support: reads the golden wM-Bus data at run time (never copied into the project). */
import { readFileSync } from "node:fs";
import path from "node:path";

export function goldenDir(): string {
  return process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "../../..", "../shared/golden");
}

export interface GoldenTelegram {
  id: string;
  key: string | null;
  frames: string[];
  frameInfo: Array<Record<string, unknown>>;
  expectedJson: Record<string, unknown>;
}

export function loadGoldenTelegrams(): GoldenTelegram[] {
  const text = readFileSync(path.join(goldenDir(), "wmbus", "telegrams.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as GoldenTelegram);
}

export function loadGoldenJson<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(goldenDir(), "wmbus", name), "utf8")) as T;
}
