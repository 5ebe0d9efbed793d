// verifyLog: anyone can check a store or log file. Without a key service it checks the
// structure (every segment against its checkpoint, the checkpoints against the head, SQLite's
// own check); with one it also checks the anchor's HMAC and the monotonic counter.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import type { KeyService } from "./keys.ts";
import { errorText, type VerifyMode, type VerifyReport, verifyDatabase } from "./verify.ts";

export async function verifyLog(
  file: string,
  options: { keys?: KeyService; mode?: VerifyMode } = {},
): Promise<VerifyReport> {
  const mode = options.mode ?? "full";
  if (!existsSync(file)) {
    const { report } = await verifyDatabase(
      undefined,
      file,
      { mode },
      {
        code: "missing-file",
        message: "the file does not exist",
      },
    );
    return report;
  }
  let db: Database | undefined;
  try {
    db = new Database(file, { readonly: true });
  } catch (e) {
    const { report } = await verifyDatabase(
      undefined,
      file,
      { mode },
      {
        code: "unreadable",
        message: `SQLite cannot open the file: ${errorText(e)}`,
      },
    );
    return report;
  }
  try {
    const { report } = await verifyDatabase(db, file, {
      mode,
      ...(options.keys ? { keys: options.keys } : {}),
    });
    return report;
  } finally {
    db.close();
  }
}
