// A policy problem, located in the policy file so that a reviewer can go straight to it.
export interface PolicyIssue {
  /** JSON-pointer-like path of the offending key, e.g. "/flows/3/from". */
  path: string;
  /** 1-based line and column in the policy file, when the key could be located. */
  line?: number;
  column?: number;
  message: string;
}

export class PolicyError extends Error {
  readonly issues: readonly PolicyIssue[];
  readonly file: string;

  constructor(file: string, issues: readonly PolicyIssue[]) {
    super(`policy ${file} rejected:\n${issues.map((i) => `  ${formatIssue(file, i)}`).join("\n")}`);
    this.name = "PolicyError";
    this.file = file;
    this.issues = issues;
  }
}

export function formatIssue(file: string, issue: PolicyIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.column ?? 1}`;
  return `${where}: ${issue.path || "/"}: ${issue.message}`;
}
