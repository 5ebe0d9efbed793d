// The protection profile's flow rules as checks on a resolved policy: a policy file that
// would allow what BSI-CC-PP-0073 forbids is rejected before anything enforces it.
import type { PolicyIssue } from "./errors.ts";
import type { Policy } from "./resolve.ts";
import type { UnitName } from "./schema.ts";

const DOMAINS: readonly UnitName[] = ["meter", "admin", "cls", "display"];
/** Units whose data faces the HAN or the WAN; meter data reaches them only via storage/tcm. */
const NON_LMN_DOMAINS: readonly UnitName[] = ["admin", "cls", "display"];

export function checkInvariants(policy: Policy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const at = (index: number, key = "") => `/flows/${index}${key}`;
  const { document: doc, endpoints } = policy;

  for (const f of policy.networkFlows) {
    const eps = f.endpoints.map((e) => endpoints[e]);
    // PP-WAN-1: WAN parties never initiate, except the GWA's wake-up to admin.
    if (f.network === "WAN" && f.direction === "inbound") {
      const wakeUp =
        f.unit === "admin" &&
        f.protocol === "udp" &&
        f.carries.length === 1 &&
        f.carries[0] === "wake-up" &&
        eps.every((e) => e?.role === "gwa");
      if (!wakeUp) {
        issues.push({
          path: at(f.index),
          message: "PP-WAN-1: a WAN party may open nothing but the GWA's wake-up (udp, to admin)",
        });
      }
    }
    // PP-WAN-1 / PP-CLS-1: every outbound WAN connection is TLS opened by the TCM.
    if (f.network === "WAN" && f.direction === "outbound" && (f.unit !== "tcm" || !f.tls)) {
      issues.push({
        path: at(f.index),
        message: "PP-WAN-1: outbound WAN flows are TLS channels opened by tcm",
      });
    }
    // PP-LMN-1: the LMN reaches the meter domain only, and only meters are on it.
    if (f.network === "LMN") {
      if (f.unit !== "meter" && f.unit !== "tcm") {
        issues.push({ path: at(f.index), message: `PP-LMN-1: unit ${f.unit} may not use the LMN` });
      }
      if (eps.some((e) => e?.role !== "meter")) {
        issues.push({ path: at(f.index), message: "PP-LMN-1: only meters are LMN endpoints" });
      }
    }
    if (f.unit === "meter" && f.network !== "LMN") {
      issues.push({ path: at(f.index), message: "PP-LMN-1: the meter domain uses the LMN only" });
    }
    // PP-CLS-1: CLS devices talk to the CLS proxy over TLS; its WAN leg only to authorised ends.
    if (eps.some((e) => e?.role === "cls") && (f.unit !== "cls" || !f.tls)) {
      issues.push({
        path: at(f.index),
        message: "PP-CLS-1: CLS devices reach only the cls proxy, over TLS",
      });
    }
    if (f.network === "WAN" && f.carries.includes("cls-traffic")) {
      const authorised = new Set(
        Object.values(endpoints).flatMap((e) =>
          e.role === "cls" ? (e.authorisedEndpoints ?? []) : [],
        ),
      );
      for (const e of f.endpoints) {
        if (!authorised.has(e)) {
          issues.push({
            path: at(f.index, "/to"),
            message: `PP-CLS-1: ${e} is authorised for no CLS device`,
          });
        }
      }
    }
    // PP-HAN-1: consumers and the technician reach the display only; the technician no personal data.
    if (
      eps.some((e) => e?.role === "consumer" || e?.role === "service-technician") &&
      f.unit !== "display"
    ) {
      issues.push({
        path: at(f.index),
        message: "PP-HAN-1: consumers and technicians use the display only",
      });
    }
    if (eps.some((e) => e?.role === "service-technician")) {
      for (const c of f.carries) {
        if (doc.dataTypes[c]?.personal) {
          issues.push({
            path: at(f.index, "/carries"),
            message: `PP-HAN-1: the service technician may not receive personal data (${c})`,
          });
        }
      }
    }
  }

  for (const f of policy.ipcFlows) {
    // Domains are separated: they meet only through kernel services.
    if (DOMAINS.includes(f.from) && DOMAINS.includes(f.to)) {
      issues.push({
        path: at(f.index),
        message: `domain ${f.from} may not send to domain ${f.to}`,
      });
    }
    // PP-LMN-1: no direct path from the meter domain into a HAN- or WAN-facing domain.
    if (f.from === "meter" && NON_LMN_DOMAINS.includes(f.to)) {
      issues.push({ path: at(f.index), message: `PP-LMN-1: meter may not send to ${f.to}` });
    }
    // PP-HAN-1: personal data to a HAN-facing domain only on behalf of its consumer.
    const personal = f.carries.some((c) => doc.dataTypes[c]?.personal);
    if (f.from === "display" && personal && f.scope !== "consumer-own-meters") {
      issues.push({
        path: at(f.index),
        message: "PP-HAN-1: display reads personal data only with scope consumer-own-meters",
      });
    }
  }
  return issues;
}
