// The web interface in a real browser: Debian's chromium driven by playwright-core, against
// the display served in-process on 127.0.0.1 with a fake IFM holding generated readings.
// Screenshots are kept under artifacts/display/ at the repository root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { validateAr2418, xmllintPath } from "@smgw/ar2418";
import { parseMeterData } from "@smgw/taf";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { listen } from "./serve.ts";
import { call, type Fixture, makeFixture, memoryLog, PASSWORDS } from "./testing/fixture.ts";

// The page's globals as the functions run in the browser use them (the project's TypeScript has
// no DOM library; these declarations are local to this file).
interface PageElement {
  id: string;
  className: string;
  textContent: string | null;
  hidden: boolean;
  offsetParent: unknown;
  children: { length: number };
  outerHTML: string;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  blur(): void;
}
declare const document: {
  activeElement: PageElement | null;
  documentElement: { scrollWidth: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`browser tests skipped: ${CHROMIUM} is missing (Debian package chromium)`);
}
const ARTIFACTS = path.resolve(import.meta.dir, "../../..", "artifacts", "display");

interface Served {
  fixture: Fixture;
  base: string;
  stop: () => void;
}

async function serve(): Promise<Served> {
  const fixture = await makeFixture();
  const server = listen(fixture.display, {
    hostname: "127.0.0.1",
    port: 0,
    listener: "han",
    log: memoryLog(),
  });
  return { fixture, base: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

describe.skipIf(!haveChromium)("web interface in chromium", () => {
  let browser: Browser;
  let app: Served;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    app = await serve();
  });
  afterAll(async () => {
    await browser?.close();
    app?.stop();
  });

  async function open(
    o: { locale?: string; width?: number; height?: number; base?: string } = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      locale: o.locale ?? "de-DE",
      timezoneId: "Europe/Berlin",
      viewport: { width: o.width ?? 1100, height: o.height ?? 900 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    const base = o.base ?? app.base;
    // Nothing may load from anywhere but the gateway, and the page must run under its CSP.
    page.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) {
        problems.push(`external request ${r.url()}`);
      }
    });
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${base}/`);
    return { context, page };
  }

  async function signIn(page: Page, user: string, password = PASSWORDS[user] ?? "") {
    await page.fill("#login-user", user);
    await page.fill("#login-password", password);
    await page.click("#login-submit");
  }

  test("a consumer signs in, sees their meters' chart and registers, and downloads a valid export", async () => {
    const { context, page } = await open();
    await page.waitForSelector("#login-view:not([hidden])");
    await page.screenshot({ path: path.join(ARTIFACTS, "login-de.png") });
    // Keyboard only: the page starts in the user name field; before it are the language
    // switch and the skip link; the form is filled and sent with Enter.
    const focused = () =>
      page.evaluate(() => document.activeElement?.id || document.activeElement?.className);
    expect(await focused()).toBe("login-user");
    await page.keyboard.press("Shift+Tab");
    expect(await focused()).toBe("lang");
    await page.keyboard.press("Shift+Tab");
    expect(await focused()).toBe("skip");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("login-user");
    await page.keyboard.type("alice");
    await page.keyboard.press("Tab");
    await page.keyboard.type(PASSWORDS.alice as string);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#consumer-view:not([hidden])");
    await page.waitForSelector("#chart canvas");
    await page.waitForSelector("#tariff tbody tr");
    expect(await page.locator("#meter option").allTextContents()).toEqual([
      "meter-1 (1ESY1161234561)",
      "meter-2 (1ESY1161234562)",
      "wmbus-1 (XSM30000001)",
      "wmbus-2 (XSM30000002)",
    ]);
    expect(await page.locator("#current tbody tr").count()).toBe(3);
    expect(await page.locator("#tariff tbody tr").count()).toBe(3);
    expect(await page.textContent("#period-label")).toBe("Januar 2026");
    expect(await page.textContent("#chart-caption")).toMatch(/^Summe im Zeitraum: [\d.,]+ kWh$/);
    expect(await page.getAttribute("#chart", "aria-label")).toContain("Bezug gesamt");
    expect(await page.locator("#log tbody tr").count()).toBeGreaterThan(0);
    // The calibration log: alice's four meters' entries (two each) and the gateway-wide one.
    expect(await page.locator("#calibration tbody tr").count()).toBe(9);
    const events = await page.locator("#calibration tbody tr td:nth-child(3)").allTextContents();
    expect(events).toContain("Zählwerk lief rückwärts");
    expect(events).toContain("Tarif hinterlegt");
    await page.screenshot({ path: path.join(ARTIFACTS, "consumer-de.png"), fullPage: true });

    // Another range and another meter.
    await page.click('button.range[data-range="week"]');
    await page.waitForFunction(
      () =>
        document.querySelector('button[data-range="week"]')?.getAttribute("aria-pressed") ===
        "true",
    );
    await page.waitForFunction(
      () => document.querySelector("#chart-table tbody")?.children.length === 168,
    );
    await page.selectOption("#meter", "meter-2");
    await page.waitForFunction(() =>
      /meter-2/.test(document.querySelector("#export-link")?.getAttribute("href") ?? ""),
    );

    // English, by the switch.
    await page.selectOption("#lang", "en");
    expect(await page.textContent("#h-current")).toBe("Current values");
    expect(await page.textContent("#h-calibration")).toBe("Calibration log");
    expect(await page.locator("#calibration tbody tr td:nth-child(3)").allTextContents()).toContain(
      "Register ran backwards",
    );
    expect(await page.getAttribute("html", "lang")).toBe("en");
    await page.click('button.range[data-range="month"]');
    await page.waitForFunction(
      () => document.querySelector("#period-label")?.textContent === "January 2026",
    );
    await page.screenshot({ path: path.join(ARTIFACTS, "consumer-en.png"), fullPage: true });

    // The export of two days, downloaded through the page.
    await page.fill("#export-from", "2026-01-26");
    await page.fill("#export-to", "2026-01-27");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#export-link"),
    ]);
    expect(download.suggestedFilename()).toBe("meter-2_2026-01-26_2026-01-28.xml");
    const file = path.join(ARTIFACTS, download.suggestedFilename());
    await download.saveAs(file);
    const xml = readFileSync(file, "utf8");
    if (xmllintPath()) expect(validateAr2418([xml]).errors).toEqual([]);
    const doc = parseMeterData(xml);
    expect(doc.customerId).toBe("alice");
    expect(doc.meterReadings[0]?.intervalBlocks[0]?.intervalReadings).toHaveLength(192);
    await context.close();
    expect(problems).toEqual([]);
  }, 60_000);

  test("on a phone the page is usable and every control has a label", async () => {
    const { context, page } = await open({ width: 390, height: 844, locale: "en-GB" });
    expect(await page.getAttribute("html", "lang")).toBe("en");
    await signIn(page, "alice");
    await page.waitForSelector("#chart canvas");
    await page.waitForSelector("#tariff tbody tr");
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll("input, select, button, a")]
        .filter((el) => !el.hidden && el.offsetParent !== null)
        .filter((el) => {
          const id = el.id;
          const label = id ? document.querySelector(`label[for="${id}"]`) : null;
          const text = (el.textContent ?? "").trim();
          return !label && !el.getAttribute("aria-label") && !text;
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unlabelled).toEqual([]);
    // Nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      390,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, "consumer-phone.png"), fullPage: true });
    await context.close();
  }, 60_000);

  test("another consumer cannot see them by any URL or API parameter", async () => {
    const { context, page } = await open();
    await signIn(page, "bob");
    await page.waitForSelector("#consumer-view:not([hidden])");
    expect(await page.locator("#meter option").allTextContents()).toEqual([
      "meter-3 (1EMH0012345673)",
      "wmbus-3 (XSM30000003)",
      "wmbus-4 (XSM30000004)",
      "wmbus-5 (XSM30000005)",
    ]);
    const statuses = await page.evaluate(async () => {
      const paths = [
        "/api/v1/meters/meter-1/readings",
        "/api/v1/meters/meter-2/current",
        "/api/v1/meters/meter-1/series?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=1h",
        "/api/v1/meters/meter-1/tariff-registers",
        "/api/v1/meters/meter-1/export?from=2026-01-26T00:00:00Z&to=2026-01-27T00:00:00Z",
        "/api/v1/log?meter=meter-1",
        "/api/v1/meters/meter-3/readings?meter=meter-1",
        "/api/v1/meters/meter-3/../meter-1/readings",
        "/api/v1/meters/meter-3%2F..%2Fmeter-1/readings",
        "/api/v1/meters/METER-1/readings",
      ];
      const out: Record<string, number> = {};
      for (const p of paths) out[p] = (await fetch(p)).status;
      return out;
    });
    for (const [p, status] of Object.entries(statuses)) {
      expect({ p, denied: status === 404 || status === 400 }).toEqual({ p, denied: true });
    }
    const html = await page.content();
    expect(html).not.toContain("meter-1");
    expect(html).not.toContain("1ESY1161234561");
    // Navigating to another's export shows a JSON error, not a file.
    const r = await page.goto(
      `${app.base}/api/v1/meters/meter-1/export?from=2026-01-26T00:00:00Z&to=2026-01-27T00:00:00Z`,
    );
    expect(r?.status()).toBe(404);
    await context.close();
  }, 60_000);

  test("wrong passwords slow down but never lock the owner out for more than a minute", async () => {
    const own = await serve();
    const { clock } = own.fixture;
    try {
      // Someone elsewhere on the HAN guesses alice's password a hundred times.
      for (let i = 0; i < 100; i++) {
        const r = await call(own.fixture.display, "/api/v1/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "alice", password: `guess-${i}` }),
          client: "203.0.113.99",
        });
        const wait = (r.body as { error?: { retryAfterSeconds?: number } }).error
          ?.retryAfterSeconds;
        if (wait) clock.now += wait * 1000;
      }
      const { context, page } = await open({ base: own.base });
      const attempt = async (password: string): Promise<string> => {
        await page.evaluate(() => {
          const e = document.querySelector("#login-error");
          if (e) e.textContent = "";
        });
        await signIn(page, "alice", password);
        await page.waitForFunction(
          () =>
            (document.querySelector("#login-error")?.textContent ?? "") !== "" ||
            !document.querySelector("#consumer-view")?.hasAttribute("hidden"),
        );
        return (await page.textContent("#login-error")) ?? "";
      };
      const secondsIn = (m: string) => Number(/(\d+) Sekunden/.exec(m)?.[1] ?? 0);
      // Alice mistypes a few times herself, each time waiting as long as she is told.
      let longest = 0;
      for (let i = 0; i < 6; i++) {
        const message = await attempt("typo");
        expect(message).toMatch(/falsch|Sekunden/);
        longest = Math.max(longest, secondsIn(message));
        clock.now += secondsIn(message) * 1000;
      }
      // Right after a failure she is asked to wait, at most a minute.
      let message = await attempt("typo");
      if (!secondsIn(message)) message = await attempt("typo");
      const wait = secondsIn(message);
      expect(wait).toBeGreaterThan(0);
      expect(Math.max(wait, longest)).toBeLessThanOrEqual(60);
      await page.screenshot({ path: path.join(ARTIFACTS, "login-slowed.png") });
      // The right password before the wait is over is slowed too (the delay binds everyone).
      const early = await attempt(PASSWORDS.alice as string);
      expect(secondsIn(early)).toBeGreaterThan(0);
      clock.now += secondsIn(early) * 1000;
      expect(await attempt(PASSWORDS.alice as string)).toBe("");
      await page.waitForSelector("#consumer-view:not([hidden])");
      await context.close();
    } finally {
      own.stop();
    }
  }, 60_000);

  test("the technician sees diagnostics but no readings", async () => {
    const { context, page } = await open();
    await signIn(page, "technician");
    await page.waitForSelector("#technician-view:not([hidden])");
    await page.waitForSelector("#units tbody tr");
    expect(await page.locator("#units tbody tr").count()).toBe(8);
    expect(await page.isHidden("#consumer-view")).toBe(true);
    const text = await page.textContent("body");
    expect(text).not.toMatch(/kWh|meter-\d|1ESY|alice|bob/);
    expect(await page.evaluate(async () => (await fetch("/api/v1/meters")).status)).toBe(403);
    await page.screenshot({ path: path.join(ARTIFACTS, "technician.png"), fullPage: true });
    await page.click("#logout");
    await page.waitForSelector("#login-view:not([hidden])");
    expect(await page.evaluate(async () => (await fetch("/api/v1/session")).status)).toBe(401);
    await context.close();
  }, 60_000);
});
