// The display's web interface. Plain script, no framework; everything comes from the gateway.
// Data is only ever put into the page as text (textContent), never as markup.

(() => {
  const DATA = JSON.parse(document.getElementById("smgw-i18n").textContent);
  let lang = DATA.lang;
  const $ = (id) => document.getElementById(id);
  const ZONE = "Europe/Berlin";
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const MAX_EXPORT_DAYS = 400;

  const state = {
    session: null,
    meters: [],
    meter: null,
    range: "month",
    anchor: null,
    obis: "1-0:1.8.0*255",
    current: null,
    series: null,
    tariff: null,
    log: [],
    logNext: undefined,
    calibration: [],
    calibrationNext: undefined,
    status: null,
    diagnostics: null,
    chart: null,
  };

  // ---- texts ----------------------------------------------------------------------------
  function t(key, ...args) {
    let s = DATA.messages[lang][key] ?? key;
    args.forEach((a, i) => {
      s = s.replace(`{${i}}`, String(a));
    });
    return s;
  }

  function applyTexts() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of document.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
  }

  function registerName(obis) {
    const cde = /:(\d+\.\d+\.\d+)\*/.exec(obis)?.[1];
    const name = cde ? DATA.registers[lang][cde] : undefined;
    return name ? `${name} (${obis})` : obis;
  }

  // ---- German legal time (the gateway's bills and charts use it) --------------------------
  function lastSundayOneUtc(year, month) {
    const last = new Date(Date.UTC(year, month + 1, 0));
    return Date.UTC(year, month, last.getUTCDate() - last.getUTCDay(), 1);
  }
  function berlinOffset(instant) {
    const y = new Date(instant).getUTCFullYear();
    return instant >= lastSundayOneUtc(y, 2) && instant < lastSundayOneUtc(y, 9) ? 2 * HOUR : HOUR;
  }
  function instantOfWall(wall) {
    const winter = wall - HOUR;
    if (berlinOffset(winter) === HOUR) return winter;
    const summer = wall - 2 * HOUR;
    if (berlinOffset(summer) === 2 * HOUR) return summer;
    return winter;
  }
  function wallDate(instant) {
    const d = new Date(instant + berlinOffset(instant));
    return { y: d.getUTCFullYear(), m: d.getUTCMonth(), d: d.getUTCDate() };
  }
  function dateInstant(y, m, d) {
    return instantOfWall(Date.UTC(y, m, d));
  }

  /** The period of a range around an anchor date: instants, step and a label. */
  function periodOf(range, a) {
    if (range === "day") {
      return { from: dateInstant(a.y, a.m, a.d), to: dateInstant(a.y, a.m, a.d + 1), step: "15m" };
    }
    if (range === "week") {
      const dow = (new Date(Date.UTC(a.y, a.m, a.d)).getUTCDay() + 6) % 7; // Monday first
      return {
        from: dateInstant(a.y, a.m, a.d - dow),
        to: dateInstant(a.y, a.m, a.d - dow + 7),
        step: "1h",
      };
    }
    if (range === "month") {
      return { from: dateInstant(a.y, a.m, 1), to: dateInstant(a.y, a.m + 1, 1), step: "1d" };
    }
    return { from: dateInstant(a.y, 0, 1), to: dateInstant(a.y + 1, 0, 1), step: "1mo" };
  }

  function shift(range, a, by) {
    const d = new Date(Date.UTC(a.y, a.m, a.d));
    if (range === "day") d.setUTCDate(d.getUTCDate() + by);
    else if (range === "week") d.setUTCDate(d.getUTCDate() + 7 * by);
    else if (range === "month") d.setUTCMonth(d.getUTCMonth() + by, 1);
    else d.setUTCFullYear(d.getUTCFullYear() + by, 0, 1);
    return { y: d.getUTCFullYear(), m: d.getUTCMonth(), d: d.getUTCDate() };
  }

  // ---- formatting -----------------------------------------------------------------------
  const locale = () => (lang === "de" ? "de-DE" : "en-GB");
  function fmtNumber(v, digits) {
    return new Intl.NumberFormat(locale(), {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(v);
  }
  function fmtTime(instant, opts = { dateStyle: "medium", timeStyle: "short" }) {
    return new Intl.DateTimeFormat(locale(), { ...opts, timeZone: ZONE }).format(new Date(instant));
  }
  /** Energy in kWh, power in W, other units as delivered. */
  function scaled(unit) {
    if (unit === "Wh") return { div: 1000, unit: "kWh", digits: 3 };
    if (unit === "varh") return { div: 1000, unit: "kvarh", digits: 3 };
    return { div: 1, unit: unit ?? "", digits: unit === "W" || unit === "var" ? 0 : 2 };
  }
  function fmtValue(value, unit, digits) {
    const s = scaled(unit);
    return `${fmtNumber(value / s.div, digits ?? s.digits)} ${s.unit}`;
  }
  function periodLabel(range, p) {
    if (range === "day") return fmtTime(p.from, { dateStyle: "full" });
    if (range === "week") {
      return `${fmtTime(p.from, { dateStyle: "medium" })} – ${fmtTime(p.to - 1, { dateStyle: "medium" })}`;
    }
    if (range === "month") return fmtTime(p.from, { month: "long", year: "numeric" });
    return fmtTime(p.from, { year: "numeric" });
  }
  function axisTime(instant, increment) {
    if (increment < DAY) {
      const time = fmtTime(instant, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      // Midnight ticks name the day, so a week's axis says which day is which.
      return time === "00:00" && state.range === "week"
        ? fmtTime(instant, { weekday: "short", day: "numeric", month: "numeric" })
        : time;
    }
    if (increment < 28 * DAY) return fmtTime(instant, { day: "numeric", month: "short" });
    return fmtTime(instant, { month: "short", year: "2-digit" });
  }
  function bucketLabel(step, instant) {
    if (step === "15m" || step === "1h") return fmtTime(instant, { timeStyle: "short" });
    if (step === "1d")
      return fmtTime(instant, { weekday: "short", day: "numeric", month: "short" });
    return fmtTime(instant, { month: "long", year: "numeric" });
  }

  // ---- talking to the gateway -------------------------------------------------------------
  class HttpError extends Error {
    constructor(status, body) {
      super(body?.error?.message ?? `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, init = {}) {
    const res = await fetch(path, {
      credentials: "same-origin",
      ...init,
      headers: { accept: "application/json", ...(init.headers ?? {}) },
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (res.status === 401 && state.session && !init.quiet401) {
      state.session = null;
      showLogin(t("sessionEnded"));
    }
    if (!res.ok) throw new HttpError(res.status, body);
    return body;
  }

  function notice(message) {
    const el = $("notice");
    el.textContent = message ?? "";
    el.hidden = !message;
  }

  function failed(e) {
    if (e instanceof HttpError && e.status === 401) return;
    notice(t("errorGeneric"));
  }

  // ---- small DOM helpers ------------------------------------------------------------------
  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }
  /** Rows of text into a table; each cell knows its column's name for the phone layout. */
  function fill(tableId, rows) {
    const table = $(tableId);
    const labels = [...table.tHead.rows[0].cells].map((th) => th.textContent);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const values of rows) {
      const tr = document.createElement("tr");
      values.forEach((v, i) => {
        const td = typeof v === "string" ? cell(tr, v) : cell(tr, v.text, v.className);
        td.dataset.label = labels[i] ?? "";
      });
      body.append(tr);
    }
  }

  // ---- views ------------------------------------------------------------------------------
  function show(view) {
    $("login-view").hidden = view !== "login";
    $("consumer-view").hidden = view !== "consumer";
    $("technician-view").hidden = view !== "technician";
    $("logout").hidden = view === "login";
    $("who").hidden = view === "login";
  }

  function showLogin(message) {
    if (state.chart) {
      state.chart.destroy();
      state.chart = null;
    }
    show("login");
    notice(null);
    $("login-error").textContent = message ?? "";
    $("login-password").value = "";
    $("login-user").focus();
  }

  async function start() {
    try {
      state.session = await api("/api/v1/session", { quiet401: true });
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) {
        showLogin();
        return;
      }
      notice(t("errorGeneric"));
      return;
    }
    $("who").textContent = t("signedInAs", state.session.account);
    notice(null);
    if (state.session.role === "consumer") {
      show("consumer");
      await loadMeters();
    } else {
      show("technician");
      await loadDiagnostics();
    }
    await loadStatus();
    $("main").focus();
  }

  // ---- login ------------------------------------------------------------------------------
  async function login(event) {
    event.preventDefault();
    const user = $("login-user").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    if (!user || !password) {
      error.textContent = t("loginWrong");
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    error.textContent = "";
    try {
      await api("/api/v1/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user, password }),
        quiet401: true,
      });
      $("login-password").value = "";
      await start();
    } catch (e) {
      $("login-password").value = "";
      if (e instanceof HttpError && e.status === 429) {
        error.textContent = t("loginSlow", e.body?.error?.retryAfterSeconds ?? 1);
      } else if (e instanceof HttpError && e.status === 401) {
        error.textContent = t("loginWrong");
      } else if (e instanceof HttpError && e.status === 503) {
        error.textContent = t("loginBusy");
      } else {
        error.textContent = t("errorGeneric");
      }
      $("login-password").focus();
    } finally {
      button.disabled = false;
    }
  }

  async function logout() {
    try {
      await api("/api/v1/logout", { method: "POST", quiet401: true });
    } catch {
      // Signed out either way: the session is gone or was already.
    }
    state.session = null;
    showLogin();
  }

  // ---- consumer: meters -------------------------------------------------------------------
  async function loadMeters() {
    try {
      const r = await api("/api/v1/meters");
      state.meters = r.meters;
    } catch (e) {
      failed(e);
      return;
    }
    const select = $("meter");
    select.replaceChildren();
    for (const m of state.meters) {
      const o = document.createElement("option");
      o.value = m.meter;
      o.textContent = m.meterId ? `${m.meter} (${m.meterId})` : m.meter;
      select.append(o);
    }
    const none = state.meters.length === 0;
    $("no-meters").hidden = !none;
    for (const id of ["meter-pick", "current-card", "chart-card", "tariff-card", "export-card"]) {
      $(id).hidden = none;
    }
    await loadLog(true);
    await loadCalibration(true);
    if (!none) await selectMeter(state.meters[0].meter);
  }

  async function selectMeter(meter) {
    state.meter = meter;
    $("meter").value = meter;
    const m = state.meters.find((x) => x.meter === meter);
    state.anchor = wallDate(m?.last ? Date.parse(m.last) : Date.now());
    await Promise.all([loadCurrent(), loadTariff()]);
    await loadChart();
    setExportDefaults();
  }

  // ---- consumer: current values -----------------------------------------------------------
  async function loadCurrent() {
    try {
      state.current = await api(`/api/v1/meters/${encodeURIComponent(state.meter)}/current`);
    } catch (e) {
      failed(e);
      return;
    }
    renderCurrent();
    // The chart offers the cumulative registers (value group D = 8).
    const select = $("chart-obis");
    const registers = state.current.values.map((v) => v.obis).filter((o) => /:\d+\.8\./.test(o));
    if (!registers.includes(state.obis)) registers.unshift(state.obis);
    select.replaceChildren();
    for (const o of registers) {
      const opt = document.createElement("option");
      opt.value = o;
      opt.textContent = registerName(o);
      select.append(opt);
    }
    select.value = state.obis;
  }

  function renderCurrent() {
    const values = state.current?.values ?? [];
    fill(
      "current",
      values.map((v) => [
        registerName(v.obis),
        { text: fmtValue(v.value, v.unit), className: "num" },
        fmtTime(Date.parse(v.capturedAt)),
      ]),
    );
    $("current-empty").hidden = values.length > 0;
    for (const opt of $("chart-obis").options) opt.textContent = registerName(opt.value);
  }

  // ---- consumer: chart --------------------------------------------------------------------
  async function loadChart() {
    const p = periodOf(state.range, state.anchor);
    $("period-label").textContent = periodLabel(state.range, p);
    $("next").disabled = p.to > Date.now();
    for (const b of document.querySelectorAll("button.range")) {
      b.setAttribute("aria-pressed", String(b.dataset.range === state.range));
    }
    const q = new URLSearchParams({
      from: new Date(p.from).toISOString(),
      to: new Date(p.to).toISOString(),
      step: p.step,
      obis: state.obis,
    });
    try {
      state.series = await api(`/api/v1/meters/${encodeURIComponent(state.meter)}/series?${q}`);
    } catch (e) {
      failed(e);
      return;
    }
    renderChart();
  }

  function renderChart() {
    const s = state.series;
    if (!s) return;
    const p = periodOf(state.range, state.anchor);
    $("period-label").textContent = periodLabel(state.range, p);
    const sc = scaled(s.unit);
    const xs = s.points.map((pt) => Date.parse(pt.start) / 1000);
    const ys = s.points.map((pt) => (pt.value === null ? null : pt.value / sc.div));
    const has = ys.some((v) => v !== null);
    $("chart-empty").hidden = has;
    $("chart-truncated").hidden = !s.truncated;
    const known = ys.filter((v) => v !== null);
    const summary =
      s.kind === "consumption"
        ? t("total", fmtValue(s.total ?? 0, s.unit))
        : t(
            "average",
            known.length
              ? fmtValue((known.reduce((a, b) => a + b, 0) / known.length) * sc.div, s.unit)
              : "–",
          );
    $("chart-caption").textContent = has ? summary : "";
    $("chart").setAttribute(
      "aria-label",
      t(
        "chartLabel",
        registerName(s.obis),
        periodLabel(state.range, p),
        has ? summary : t("noData"),
      ),
    );
    fill(
      "chart-table",
      s.points.map((pt) => [
        bucketLabel(s.step, Date.parse(pt.start)),
        { text: pt.value === null ? "–" : fmtValue(pt.value, s.unit), className: "num" },
      ]),
    );
    drawChart(xs, ys, sc, s);
  }

  function drawChart(xs, ys, sc, s) {
    const el = $("chart");
    if (state.chart) {
      state.chart.destroy();
      state.chart = null;
    }
    el.replaceChildren();
    if (typeof uPlot === "undefined") return;
    const css = getComputedStyle(document.documentElement);
    const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const accent = color("--accent", "#0a6e52");
    const fg = color("--fg", "#1b1f23");
    const grid = color("--grid", "#d9dde1");
    const width = Math.max(260, el.clientWidth || 600);
    const digits = sc.digits;
    const bars = s.kind === "consumption";
    const opts = {
      width,
      height: Math.round(Math.min(320, Math.max(200, width * 0.42))),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), ZONE),
      scales: {
        x: { time: true },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        {
          label: t("time"),
          value: (_u, v) => (v == null ? "–" : bucketLabel(s.step, v * 1000)),
        },
        {
          label: `${registerName(s.obis)} [${sc.unit}]`,
          stroke: accent,
          fill: bars ? `${accent}cc` : undefined,
          width: bars ? 0 : 2,
          paths: bars ? uPlot.paths.bars({ size: [0.8, 48], align: 1 }) : undefined,
          points: { show: false },
          value: (_u, v) => (v == null ? "–" : `${fmtNumber(v, digits)} ${sc.unit}`),
        },
      ],
      axes: [
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          values: (_u, splits, _i, _space, incr) =>
            splits.map((v) => axisTime(v * 1000, incr * 1000)),
        },
        {
          stroke: fg,
          size: 72,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          values: (_u, splits, _i, _space, incr) => {
            const decimals = Math.min(3, Math.max(0, -Math.floor(Math.log10(incr || 1))));
            return splits.map((v) => fmtNumber(v, decimals));
          },
        },
      ],
    };
    state.chart = new uPlot(opts, [xs, ys], el);
  }

  let resizeTimer;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (state.chart && !$("consumer-view").hidden) {
        const w = Math.max(260, $("chart").clientWidth || 600);
        state.chart.setSize({
          width: w,
          height: Math.round(Math.min(320, Math.max(200, w * 0.42))),
        });
      }
    }, 150);
  }

  // ---- consumer: tariff registers ---------------------------------------------------------
  async function loadTariff() {
    try {
      state.tariff = await api(
        `/api/v1/meters/${encodeURIComponent(state.meter)}/tariff-registers`,
      );
    } catch (e) {
      failed(e);
      return;
    }
    renderTariff();
  }

  function renderTariff() {
    const r = state.tariff;
    if (!r) return;
    const name = r.tariff
      ? [r.tariff.name, t("tariffUseCase", r.tariff.useCase)].filter(Boolean).join(" · ")
      : "";
    $("tariff-name").textContent = name;
    $("tariff-name").hidden = !name;
    fill(
      "tariff",
      r.registers.map((g) => [
        g.tariffStage === 0 ? t("tariffTotal") : String(g.tariffStage),
        g.description ? `${g.description} (${g.obis})` : registerName(g.obis),
        { text: fmtValue(g.value, g.unit), className: "num" },
        fmtTime(Date.parse(g.capturedAt)),
      ]),
    );
    $("tariff-empty").hidden = r.registers.length > 0;
  }

  // ---- consumer: log ------------------------------------------------------------------------
  /** The next page of a paged log (`key`: "log" or "calibration"), or the first if `reset`. */
  async function loadPaged(key, url, render, reset) {
    if (reset) {
      state[key] = [];
      state[`${key}Next`] = undefined;
    }
    const q = new URLSearchParams({ limit: "20" });
    if (state[`${key}Next`] !== undefined) q.set("after", String(state[`${key}Next`]));
    try {
      const r = await api(`${url}?${q}`);
      state[key] = state[key].concat(r.entries);
      state[`${key}Next`] = r.next;
    } catch (e) {
      failed(e);
      return;
    }
    render();
  }

  function loadLog(reset) {
    return loadPaged("log", "/api/v1/log", renderLog, reset);
  }

  function renderLog() {
    const levels = {
      info: "levelInfo",
      warning: "levelWarning",
      error: "levelError",
      fatal: "levelFatal",
    };
    fill(
      "log",
      state.log.map((e) => [
        fmtTime(Date.parse(e.at)),
        t(levels[e.level] ?? "levelInfo"),
        e.meter ? `${e.text} (${e.meter})` : e.text,
        t(e.outcome === "success" ? "outcomeSuccess" : "outcomeFailure"),
      ]),
    );
    $("log-empty").hidden = state.log.length > 0;
    $("log-more").hidden = state.logNext === undefined;
  }

  // ---- consumer: calibration log ---------------------------------------------------------
  function loadCalibration(reset) {
    return loadPaged("calibration", "/api/v1/calibration-log", renderCalibration, reset);
  }

  const CALIBRATION_EVENTS = {
    "tariff.configured": "calTariffConfigured",
    "tariff.refused": "calTariffRefused",
    "billing.period-closed": "calBillingClosed",
    "billing.period-not-billable": "calBillingNotBillable",
    "register.ran-backwards": "calRegisterBackwards",
  };

  function renderCalibration() {
    fill(
      "calibration",
      state.calibration.map((e) => [
        fmtTime(Date.parse(e.at)),
        e.meter ?? "",
        CALIBRATION_EVENTS[e.event] ? t(CALIBRATION_EVENTS[e.event]) : e.event,
        Object.entries(e.detail)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", "),
      ]),
    );
    $("calibration-empty").hidden = state.calibration.length > 0;
    $("calibration-more").hidden = state.calibrationNext === undefined;
  }

  // ---- consumer: export -------------------------------------------------------------------
  function isoDate(a) {
    const p = (n) => String(n).padStart(2, "0");
    return `${String(a.y).padStart(4, "0")}-${p(a.m + 1)}-${p(a.d)}`;
  }
  function parseDate(s) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    return m ? { y: Number(m[1]), m: Number(m[2]) - 1, d: Number(m[3]) } : null;
  }

  function setExportDefaults() {
    const p = periodOf("month", state.anchor);
    $("export-from").value = isoDate(wallDate(p.from));
    $("export-to").value = isoDate(wallDate(p.to - DAY / 2));
    updateExport();
  }

  function updateExport() {
    const link = $("export-link");
    const a = parseDate($("export-from").value);
    const b = parseDate($("export-to").value);
    const from = a ? dateInstant(a.y, a.m, a.d) : Number.NaN;
    const to = b ? dateInstant(b.y, b.m, b.d + 1) : Number.NaN;
    const ok = state.meter && from < to && to - from <= MAX_EXPORT_DAYS * DAY + 2 * HOUR;
    $("export-error").textContent = ok ? "" : t("exportInvalid");
    if (ok) {
      const q = new URLSearchParams({
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
      });
      link.href = `/api/v1/meters/${encodeURIComponent(state.meter)}/export?${q}`;
      link.removeAttribute("aria-disabled");
    } else {
      link.href = "#";
      link.setAttribute("aria-disabled", "true");
    }
  }

  // ---- technician -------------------------------------------------------------------------
  async function loadDiagnostics() {
    try {
      state.diagnostics = await api("/api/v1/diagnostics");
    } catch (e) {
      failed(e);
      return;
    }
    renderDiagnostics();
  }

  function stateText(s) {
    if (s === "ok") return t("stateOk");
    if (s === "degraded") return t("stateDegraded");
    return t("stateDown");
  }

  function duration(seconds) {
    if (seconds === undefined) return "–";
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${seconds % 60} s`;
  }

  function renderDiagnostics() {
    const d = state.diagnostics;
    if (!d) return;
    fill(
      "units",
      Object.entries(d.gateway.units)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, u]) => [
          name,
          { text: stateText(u.state), className: `state-${u.state === "ok" ? "ok" : "bad"}` },
          { text: duration(u.uptimeSeconds), className: "num" },
          u.error ?? "",
        ]),
    );
    const facts = [
      ["version", d.display.version],
      ["uptime", duration(d.display.uptimeSeconds)],
      ["accounts", String(d.display.accounts)],
      ["sessions", String(d.display.sessions)],
      ["loginFailures", String(d.display.logins.passwordFailures ?? 0)],
      ["throttled", String(d.display.logins.throttled ?? 0)],
      ["requests", String(Object.values(d.display.requests).reduce((a, b) => a + b, 0))],
      ["policyDigest", d.display.policyDigest.slice(0, 16)],
    ];
    const dl = $("display-diag");
    dl.replaceChildren();
    for (const [key, value] of facts) {
      const dt = document.createElement("dt");
      dt.textContent = key === "version" ? t("version", "").trim() : t(key);
      const dd = document.createElement("dd");
      dd.textContent = value;
      dl.append(dt, dd);
    }
  }

  // ---- status line ------------------------------------------------------------------------
  async function loadStatus() {
    try {
      state.status = await api("/api/v1/status");
    } catch {
      state.status = null;
    }
    renderStatus();
  }

  function renderStatus() {
    const s = state.status;
    $("gateway-status").textContent = s
      ? `${t("gatewayStatus")}: ${stateText(s.state)} · ${t("version", s.version)}`
      : "";
  }

  // ---- language ---------------------------------------------------------------------------
  function setLanguage(next) {
    if (next !== "de" && next !== "en") return;
    lang = next;
    // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is not in every browser
    document.cookie = `smgw_lang=${lang}; Path=/; SameSite=Strict; Max-Age=31536000`;
    applyTexts();
    if (state.session) $("who").textContent = t("signedInAs", state.session.account);
    if (state.current) renderCurrent();
    if (state.series) renderChart();
    if (state.tariff) renderTariff();
    renderLog();
    renderCalibration();
    if (state.diagnostics) renderDiagnostics();
    renderStatus();
    if (state.meter) updateExport();
  }

  // ---- wiring -----------------------------------------------------------------------------
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("change", (e) => setLanguage(e.target.value));
  $("meter").addEventListener("change", (e) => selectMeter(e.target.value));
  $("chart-obis").addEventListener("change", (e) => {
    state.obis = e.target.value;
    loadChart();
  });
  for (const b of document.querySelectorAll("button.range")) {
    b.addEventListener("click", () => {
      state.range = b.dataset.range;
      loadChart();
    });
  }
  $("prev").addEventListener("click", () => {
    state.anchor = shift(state.range, state.anchor, -1);
    loadChart();
  });
  $("next").addEventListener("click", () => {
    state.anchor = shift(state.range, state.anchor, 1);
    loadChart();
  });
  $("log-more").addEventListener("click", () => loadLog(false));
  $("calibration-more").addEventListener("click", () => loadCalibration(false));
  $("export-from").addEventListener("change", updateExport);
  $("export-to").addEventListener("change", updateExport);
  $("export-link").addEventListener("click", (e) => {
    if ($("export-link").getAttribute("aria-disabled") === "true") e.preventDefault();
  });
  $("diag-refresh").addEventListener("click", loadDiagnostics);
  window.addEventListener("resize", onResize);

  start();
})();
