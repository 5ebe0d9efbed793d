// Validation against the official AR 2418-6 schema with xmllint, offline: the catalog maps the
// W3C xml.xsd that atom.xsd imports by URL to the local copy. Used by tests.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The golden data folder beside the repository. */
export function goldenDir(): string {
  return process.env.SMGW_GOLDEN ?? path.resolve(import.meta.dir, "../../..", "../shared/golden");
}

export function xmllintPath(): string | undefined {
  return Bun.which("xmllint") ?? undefined;
}

export interface XsdResult {
  valid: boolean;
  /** xmllint's messages (empty when every document validates). */
  errors: string[];
}

/** Validate XML documents (texts) against AR_2418-6.xsd; one xmllint run for all of them. */
export function validateAr2418(documents: readonly string[]): XsdResult {
  const xmllint = xmllintPath();
  if (!xmllint) throw new Error("xmllint is missing (Debian package libxml2-utils)");
  const schemaDir = path.join(goldenDir(), "ar2418-6", "schema");
  const dir = mkdtempSync(path.join(tmpdir(), "ar2418-"));
  try {
    const files = documents.map((d, i) => {
      const f = path.join(dir, `doc-${i}.xml`);
      writeFileSync(f, d);
      return f;
    });
    if (!existsSync(path.join(schemaDir, "AR_2418-6.xsd"))) {
      throw new Error(`no AR 2418-6 schema in ${schemaDir}`);
    }
    const p = Bun.spawnSync(
      [xmllint, "--nonet", "--noout", "--schema", path.join(schemaDir, "AR_2418-6.xsd"), ...files],
      {
        env: { ...process.env, XML_CATALOG_FILES: path.join(schemaDir, "catalog.xml") },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const errors = p.stderr
      .toString()
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.endsWith(" validates"));
    return { valid: p.exitCode === 0 && errors.length === 0, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
