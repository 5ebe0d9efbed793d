// Reads the policy file: YAML syntax, then the schema, then the cross-references and the
// protection profile's invariants. Every problem is reported with its line and key.
import { Value } from "@sinclair/typebox/value";
import { isNode, LineCounter, parseDocument } from "yaml";
import { PolicyError, type PolicyIssue } from "./errors.ts";
import { checkInvariants } from "./invariants.ts";
import { type Policy, resolvePolicy } from "./resolve.ts";
import { type PolicyDocument, PolicyDocumentSchema } from "./schema.ts";

/** Largest policy file accepted; a policy is a reviewable document, not a data dump. */
export const MAX_POLICY_BYTES = 1 << 20;

export function parsePolicy(text: string, file = "<policy>"): Policy {
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyError(file, [
      { path: "", message: `file larger than ${MAX_POLICY_BYTES} bytes` },
    ]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const locate = (path: string): { line?: number; column?: number } => {
    const segments = path.split("/").slice(1).map(unescapePointer);
    // Walk up until a node with a position is found (a missing key has none).
    for (let n = segments.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  };

  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return {
          path: "",
          line: pos.line,
          column: pos.col,
          message: `YAML: ${e.message.split("\n")[0]}`,
        };
      }),
    );
  }
  let raw: unknown;
  try {
    // Anchors and aliases would let one line stand for many; a reviewable policy spells out.
    raw = doc.toJS({ maxAliasCount: 0 });
  } catch (e) {
    throw new PolicyError(file, [{ path: "", message: `YAML: ${(e as Error).message}` }]);
  }

  if (!Value.Check(PolicyDocumentSchema, raw)) {
    const issues: PolicyIssue[] = [];
    const seen = new Set<string>();
    for (const e of Value.Errors(PolicyDocumentSchema, raw)) {
      // Unions report once per branch; the first message per path is the useful one.
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      issues.push({
        path: e.path,
        ...locate(e.path),
        message: describeSchemaError(e.message, e.value),
      });
      if (issues.length >= 20) break;
    }
    throw new PolicyError(file, issues);
  }

  const semantic = resolvePolicy(raw as PolicyDocument);
  const issues = [...semantic.issues, ...(semantic.policy ? checkInvariants(semantic.policy) : [])];
  if (issues.length > 0 || !semantic.policy) {
    throw new PolicyError(
      file,
      issues.map((i) => ({ ...i, ...locate(i.path) })),
    );
  }
  return semantic.policy;
}

export async function loadPolicyFile(path: string): Promise<Policy> {
  const file = Bun.file(path);
  if (!(await file.exists()))
    throw new PolicyError(path, [{ path: "", message: "file not found" }]);
  if (file.size > MAX_POLICY_BYTES) {
    throw new PolicyError(path, [
      { path: "", message: `file larger than ${MAX_POLICY_BYTES} bytes` },
    ]);
  }
  return parsePolicy(await file.text(), path);
}

function unescapePointer(s: string): string | number {
  const v = s.replaceAll("~1", "/").replaceAll("~0", "~");
  return /^\d+$/.test(v) ? Number(v) : v;
}

function describeSchemaError(message: string, value: unknown): string {
  const shown = value === undefined ? "missing" : JSON.stringify(value);
  return `${message} (found ${shown && shown.length > 60 ? `${shown.slice(0, 57)}...` : shown})`;
}
