// What each generated enforcement layer allows, read back from its text, so that the layers
// can be compared with the policy and with each other.

export interface NftAllow {
  flow: string;
  saddrs: string[];
  daddrs: string[];
  protocol: "tcp" | "udp";
  port: number;
  /** The socket owner required (outbound rules). */
  skuid?: string;
}

const set = (s: string): string[] =>
  s.startsWith("{")
    ? s
        .slice(1, -1)
        .split(",")
        .map((x) => x.trim())
    : [s];

/** Every accept rule of the ruleset that belongs to a flow (its comment names the flow). */
export function nftAllows(ruleset: string): NftAllow[] {
  const out: NftAllow[] = [];
  const re =
    /^\s*(?:meta skuid "([^"]+)" )?(?:ip saddr (\{[^}]+\}|\S+) )?(?:ip daddr (\{[^}]+\}|\S+) )?(tcp|udp) dport (\d+) .*accept comment "([^"]+)"$/gm;
  for (const m of ruleset.matchAll(re)) {
    out.push({
      flow: m[6] ?? "",
      saddrs: m[2] ? set(m[2]) : [],
      daddrs: m[3] ? set(m[3]) : [],
      protocol: m[4] as "tcp" | "udp",
      port: Number(m[5]),
      ...(m[1] ? { skuid: m[1] } : {}),
    });
  }
  return out;
}

/** Every line that accepts anything, whether or not it names a flow. */
export function nftAcceptLines(ruleset: string): string[] {
  return ruleset
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => !l.startsWith("#") && /\baccept\b/.test(l));
}

export interface ServiceNet {
  families: string[];
  ipAllow: string[];
  bindAllow: string[];
  privateNetwork: boolean;
}

/** The network-relevant directives of one generated service file. */
export function serviceNet(unitFile: string): ServiceNet {
  const values = (key: string) =>
    unitFile
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .flatMap((l) =>
        l
          .slice(key.length + 1)
          .split(/\s+/)
          .filter(Boolean),
      );
  return {
    families: values("RestrictAddressFamilies"),
    ipAllow: values("IPAddressAllow"),
    bindAllow: values("SocketBindAllow"),
    privateNetwork: values("PrivateNetwork").includes("yes"),
  };
}
