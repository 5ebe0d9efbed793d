// The display's listeners: Bun.serve with a body limit, the peer's address passed on, and a
// JSON answer for anything that escapes the handler.
import type { Server } from "bun";
import { type Display, type Logger, problem } from "./app.ts";
import type { Peer } from "./client-cert.ts";

/** Largest request body Bun reads at all; the login route takes 4 KiB of it. */
export const MAX_REQUEST_BODY = 64 * 1024;

export function listen(
  display: Display,
  o: { hostname: string; port: number; listener: Peer["listener"]; log: Logger },
): Server<undefined> {
  return Bun.serve({
    hostname: o.hostname,
    port: o.port,
    maxRequestBodySize: MAX_REQUEST_BODY,
    fetch: (req, srv) =>
      display.fetch(req, { address: srv.requestIP(req)?.address ?? "", listener: o.listener }),
    error: (e) => {
      o.log.error("request crashed", { error: e.message });
      return problem(500, "internal", "internal error");
    },
  });
}
