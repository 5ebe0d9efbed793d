// The web interface: one page, its script and style, and uPlot for the charts. All of it is
// embedded in the executable (text imports) and served by the display itself: the page loads
// nothing from outside the gateway.

import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import { type Lang, MESSAGES, type MessageKey, REGISTER_NAMES, text } from "./i18n.ts";
import appCss from "./web/app.css" with { type: "text" };
import appJs from "./web/app.js" with { type: "text" };

export interface Asset {
  body: string;
  contentType: string;
  etag: string;
}

function asset(body: string, contentType: string): Asset {
  const etag = `"${new Bun.CryptoHasher("sha256").update(body).digest("hex").slice(0, 32)}"`;
  return { body, contentType, etag };
}

export const ASSETS: Record<string, Asset> = {
  "app.js": asset(appJs, "text/javascript; charset=utf-8"),
  "app.css": asset(appCss, "text/css; charset=utf-8"),
  "uplot.js": asset(uplotJs, "text/javascript; charset=utf-8"),
  "uplot.css": asset(uplotCss, "text/css; charset=utf-8"),
};

/** HTML-escape text for element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** JSON that is safe inside a <script type="application/json"> element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function src(name: string): string {
  const a = ASSETS[name];
  return `/assets/${name}?v=${a ? a.etag.slice(1, 13) : ""}`;
}

/** The page's skeleton in the chosen language; the script fills it in. */
export function renderPage(lang: Lang): string {
  const t = (key: MessageKey) => escapeHtml(text(lang, key));
  const i = (key: MessageKey) => `data-i18n="${key}"`;
  const data = jsonForScript({ lang, messages: MESSAGES, registers: REGISTER_NAMES });
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title ${i("title")}>${t("title")}</title>
<link rel="stylesheet" href="${src("uplot.css")}">
<link rel="stylesheet" href="${src("app.css")}">
<script type="application/json" id="smgw-i18n">${data}</script>
<script src="${src("uplot.js")}" defer></script>
<script src="${src("app.js")}" defer></script>
</head>
<body>
<a class="skip" href="#main" ${i("skip")}>${t("skip")}</a>
<header class="top">
  <h1 ${i("title")}>${t("title")}</h1>
  <div class="tools">
    <label for="lang" ${i("language")}>${t("language")}</label>
    <select id="lang">
      <option value="de"${lang === "de" ? " selected" : ""}>Deutsch</option>
      <option value="en"${lang === "en" ? " selected" : ""}>English</option>
    </select>
    <span id="who" class="who" hidden></span>
    <button type="button" id="logout" class="secondary" hidden ${i("logout")}>${t("logout")}</button>
  </div>
</header>
<main id="main" tabindex="-1">
  <noscript><p class="notice" ${i("noscript")}>${t("noscript")}</p></noscript>
  <p id="notice" class="notice" role="status" aria-live="polite" hidden></p>

  <section id="login-view" class="card narrow" aria-labelledby="login-title" hidden>
    <h2 id="login-title" ${i("loginTitle")}>${t("loginTitle")}</h2>
    <p ${i("loginIntro")}>${t("loginIntro")}</p>
    <form id="login-form" novalidate>
      <label for="login-user" ${i("user")}>${t("user")}</label>
      <input id="login-user" name="user" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="64" required>
      <label for="login-password" ${i("password")}>${t("password")}</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
      <p id="login-error" class="error" role="alert" aria-live="assertive"></p>
      <button type="submit" id="login-submit" ${i("loginButton")}>${t("loginButton")}</button>
    </form>
  </section>

  <div id="consumer-view" hidden>
    <div class="card meter-pick" id="meter-pick">
      <label for="meter" ${i("meter")}>${t("meter")}</label>
      <select id="meter"></select>
    </div>
    <p id="no-meters" class="notice" hidden ${i("noMeters")}>${t("noMeters")}</p>

    <section class="card" aria-labelledby="h-current" id="current-card">
      <h2 id="h-current" ${i("currentValues")}>${t("currentValues")}</h2>
      <div class="table-wrap"><table id="current">
        <thead><tr><th scope="col" ${i("register")}>${t("register")}</th><th scope="col" class="num" ${i("value")}>${t("value")}</th><th scope="col" ${i("time")}>${t("time")}</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <p id="current-empty" hidden ${i("noValues")}>${t("noValues")}</p>
    </section>

    <section class="card" aria-labelledby="h-chart" id="chart-card">
      <h2 id="h-chart" ${i("consumption")}>${t("consumption")}</h2>
      <div class="chart-tools">
        <div role="group" aria-labelledby="range-label" class="ranges">
          <span id="range-label" class="visually-hidden" ${i("period")}>${t("period")}</span>
          <button type="button" class="range" data-range="day" aria-pressed="false" ${i("rangeDay")}>${t("rangeDay")}</button>
          <button type="button" class="range" data-range="week" aria-pressed="false" ${i("rangeWeek")}>${t("rangeWeek")}</button>
          <button type="button" class="range" data-range="month" aria-pressed="true" ${i("rangeMonth")}>${t("rangeMonth")}</button>
          <button type="button" class="range" data-range="year" aria-pressed="false" ${i("rangeYear")}>${t("rangeYear")}</button>
        </div>
        <div class="stepper">
          <button type="button" id="prev" class="secondary" data-i18n-label="earlier" aria-label="${t("earlier")}">&#8249;</button>
          <span id="period-label" aria-live="polite"></span>
          <button type="button" id="next" class="secondary" data-i18n-label="later" aria-label="${t("later")}">&#8250;</button>
        </div>
        <div class="register-pick">
          <label for="chart-obis" ${i("chartRegister")}>${t("chartRegister")}</label>
          <select id="chart-obis"></select>
        </div>
      </div>
      <figure class="chart-figure">
        <div id="chart" role="img" aria-label=""></div>
        <figcaption id="chart-caption"></figcaption>
      </figure>
      <p id="chart-empty" hidden ${i("noData")}>${t("noData")}</p>
      <p id="chart-truncated" class="error" hidden ${i("truncated")}>${t("truncated")}</p>
      <details id="chart-details">
        <summary ${i("showTable")}>${t("showTable")}</summary>
        <div class="table-wrap"><table id="chart-table">
          <thead><tr><th scope="col" ${i("periodStart")}>${t("periodStart")}</th><th scope="col" class="num" ${i("value")}>${t("value")}</th></tr></thead>
          <tbody></tbody>
        </table></div>
      </details>
    </section>

    <section class="card" aria-labelledby="h-tariff" id="tariff-card">
      <h2 id="h-tariff" ${i("tariff")}>${t("tariff")}</h2>
      <p id="tariff-name"></p>
      <div class="table-wrap"><table id="tariff">
        <thead><tr><th scope="col" ${i("tariffStage")}>${t("tariffStage")}</th><th scope="col" ${i("register")}>${t("register")}</th><th scope="col" class="num" ${i("value")}>${t("value")}</th><th scope="col" ${i("time")}>${t("time")}</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <p id="tariff-empty" hidden ${i("noTariff")}>${t("noTariff")}</p>
    </section>

    <section class="card" aria-labelledby="h-log" id="log-card">
      <h2 id="h-log" ${i("log")}>${t("log")}</h2>
      <p ${i("logIntro")}>${t("logIntro")}</p>
      <div class="table-wrap"><table id="log">
        <thead><tr><th scope="col" ${i("time")}>${t("time")}</th><th scope="col" ${i("level")}>${t("level")}</th><th scope="col" ${i("event")}>${t("event")}</th><th scope="col" ${i("outcome")}>${t("outcome")}</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <p id="log-empty" hidden ${i("noLog")}>${t("noLog")}</p>
      <button type="button" id="log-more" class="secondary" hidden ${i("more")}>${t("more")}</button>
    </section>

    <section class="card" aria-labelledby="h-calibration" id="calibration-card">
      <h2 id="h-calibration" ${i("calibration")}>${t("calibration")}</h2>
      <p ${i("calibrationIntro")}>${t("calibrationIntro")}</p>
      <div class="table-wrap"><table id="calibration">
        <thead><tr><th scope="col" ${i("time")}>${t("time")}</th><th scope="col" ${i("meter")}>${t("meter")}</th><th scope="col" ${i("event")}>${t("event")}</th><th scope="col" ${i("details")}>${t("details")}</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <p id="calibration-empty" hidden ${i("noCalibration")}>${t("noCalibration")}</p>
      <button type="button" id="calibration-more" class="secondary" hidden ${i("more")}>${t("more")}</button>
    </section>

    <section class="card" aria-labelledby="h-export" id="export-card">
      <h2 id="h-export" ${i("export")}>${t("export")}</h2>
      <p ${i("exportIntro")}>${t("exportIntro")}</p>
      <div class="export-form">
        <div><label for="export-from" ${i("exportFrom")}>${t("exportFrom")}</label><input type="date" id="export-from" required></div>
        <div><label for="export-to" ${i("exportTo")}>${t("exportTo")}</label><input type="date" id="export-to" required></div>
        <a id="export-link" class="button" href="#" download ${i("download")}>${t("download")}</a>
      </div>
      <p id="export-error" class="error" role="alert"></p>
    </section>
  </div>

  <div id="technician-view" hidden>
    <p class="notice" ${i("technicianNote")}>${t("technicianNote")}</p>
    <section class="card" aria-labelledby="h-diag">
      <h2 id="h-diag" ${i("diagnostics")}>${t("diagnostics")}</h2>
      <div class="table-wrap"><table id="units">
        <thead><tr><th scope="col" ${i("unit")}>${t("unit")}</th><th scope="col" ${i("state")}>${t("state")}</th><th scope="col" class="num" ${i("uptime")}>${t("uptime")}</th><th scope="col" ${i("detail")}>${t("detail")}</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <h3 ${i("displayDiagnostics")}>${t("displayDiagnostics")}</h3>
      <dl id="display-diag" class="facts"></dl>
      <button type="button" id="diag-refresh" class="secondary" ${i("refresh")}>${t("refresh")}</button>
    </section>
  </div>
</main>
<footer class="bottom">
  <span id="gateway-status"></span>
  <a href="/api/v1/openapi.json" ${i("apiLink")}>${t("apiLink")}</a>
</footer>
</body>
</html>
`;
}
