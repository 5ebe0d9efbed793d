// The web interface's texts in German and English. The page carries both; the language is the
// consumer's choice (a cookie set by the switch) or else the browser's Accept-Language.

const de = {
  title: "Smart-Meter-Gateway",
  skip: "Zum Inhalt springen",
  language: "Sprache",
  signedInAs: "Angemeldet als {0}",
  logout: "Abmelden",
  loginTitle: "Anmelden",
  loginIntro:
    "Melden Sie sich mit den Zugangsdaten an, die Sie von Ihrem Messstellenbetreiber erhalten haben.",
  user: "Benutzername",
  password: "Passwort",
  loginButton: "Anmelden",
  loginWrong: "Benutzername oder Passwort ist falsch.",
  loginSlow: "Zu viele Fehlversuche. Bitte versuchen Sie es in {0} Sekunden erneut.",
  loginBusy: "Das Gateway prüft gerade viele Anmeldungen. Bitte gleich noch einmal versuchen.",
  sessionEnded: "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
  errorGeneric: "Das Gateway konnte gerade nicht antworten. Bitte versuchen Sie es erneut.",
  loading: "Wird geladen …",
  meter: "Zähler",
  noMeters: "Ihnen sind keine Zähler zugeordnet.",
  currentValues: "Aktuelle Werte",
  register: "Register",
  value: "Wert",
  time: "Zeit",
  noValues: "Noch keine Messwerte vorhanden.",
  consumption: "Verbrauch",
  chartRegister: "Messgröße",
  period: "Zeitraum",
  rangeDay: "Tag",
  rangeWeek: "Woche",
  rangeMonth: "Monat",
  rangeYear: "Jahr",
  earlier: "Früherer Zeitraum",
  later: "Späterer Zeitraum",
  total: "Summe im Zeitraum: {0}",
  average: "Mittelwert im Zeitraum: {0}",
  chartLabel: "Diagramm {0}, {1}: {2}",
  showTable: "Werte als Tabelle",
  periodStart: "Beginn",
  noData: "Für diesen Zeitraum liegen keine Messwerte vor.",
  truncated:
    "Der Zeitraum enthält mehr Messwerte, als ein Diagramm zeigt; die Werte sind unvollständig.",
  tariff: "Tarifregister",
  tariffStage: "Tarifstufe",
  tariffTotal: "Summe",
  tariffUseCase: "Tarifanwendungsfall TAF {0}",
  noTariff: "Für diesen Zähler ist kein Tarif eingerichtet.",
  log: "Verbraucherprotokoll",
  logIntro: "Was das Gateway mit Ihren Daten getan hat und wann.",
  calibration: "Eichtechnisches Logbuch",
  calibrationIntro:
    "Messtechnisch relevante Ereignisse Ihrer Zähler: der Tarif, nach dem abgerechnet wird, abgeschlossene Abrechnungszeiträume und Zählwerke, die rückwärts liefen.",
  noCalibration: "Keine Einträge.",
  details: "Angaben",
  calTariffConfigured: "Tarif hinterlegt",
  calTariffRefused: "Tarif abgelehnt",
  calBillingClosed: "Abrechnungszeitraum abgeschlossen",
  calBillingNotBillable: "Abrechnungszeitraum nicht abrechenbar",
  calRegisterBackwards: "Zählwerk lief rückwärts",
  event: "Ereignis",
  level: "Stufe",
  outcome: "Ergebnis",
  levelInfo: "Information",
  levelWarning: "Warnung",
  levelError: "Fehler",
  levelFatal: "Schwerer Fehler",
  outcomeSuccess: "erfolgreich",
  outcomeFailure: "fehlgeschlagen",
  more: "Weitere Einträge laden",
  noLog: "Keine Einträge.",
  export: "Daten exportieren",
  exportIntro:
    "Laden Sie Ihre Messwerte als XML-Datei nach VDE-AR-N 2418-6 herunter, zum Beispiel um Ihre Rechnung mit dem Transparenz- und Displayprogramm TRuDI zu prüfen.",
  exportFrom: "Von (einschließlich)",
  exportTo: "Bis (einschließlich)",
  download: "XML-Datei herunterladen",
  exportInvalid:
    "Bitte wählen Sie einen Zeitraum von höchstens 400 Tagen, dessen Ende nicht vor dem Beginn liegt.",
  gatewayStatus: "Gateway-Status",
  stateOk: "in Betrieb",
  stateDegraded: "gestört",
  stateDown: "nicht erreichbar",
  version: "Version {0}",
  diagnostics: "Diagnose",
  technicianNote:
    "Als Servicetechniker sehen Sie den Zustand des Gateways, aber keine Verbrauchsdaten.",
  unit: "Dienst",
  state: "Zustand",
  uptime: "Laufzeit",
  detail: "Hinweis",
  displayDiagnostics: "Anzeige-Dienst",
  sessions: "Offene Sitzungen",
  accounts: "Konten",
  policyDigest: "Richtlinie",
  loginFailures: "Fehlgeschlagene Anmeldungen",
  throttled: "Gebremste Anmeldeversuche",
  requests: "Anfragen",
  refresh: "Aktualisieren",
  noscript:
    "Diese Seite braucht JavaScript. Die offene Schnittstelle unter /api/v1 funktioniert ohne.",
  apiLink: "Offene Schnittstelle (OpenAPI)",
} as const;

export type MessageKey = keyof typeof de;

const en: Record<MessageKey, string> = {
  title: "Smart Meter Gateway",
  skip: "Skip to content",
  language: "Language",
  signedInAs: "Signed in as {0}",
  logout: "Sign out",
  loginTitle: "Sign in",
  loginIntro: "Sign in with the credentials your metering point operator gave you.",
  user: "User name",
  password: "Password",
  loginButton: "Sign in",
  loginWrong: "Wrong user name or password.",
  loginSlow: "Too many failed attempts. Please try again in {0} seconds.",
  loginBusy: "The gateway is checking many sign-ins right now. Please try again in a moment.",
  sessionEnded: "Your session has ended. Please sign in again.",
  errorGeneric: "The gateway could not answer just now. Please try again.",
  loading: "Loading …",
  meter: "Meter",
  noMeters: "No meters are assigned to you.",
  currentValues: "Current values",
  register: "Register",
  value: "Value",
  time: "Time",
  noValues: "No readings yet.",
  consumption: "Consumption",
  chartRegister: "Quantity",
  period: "Period",
  rangeDay: "Day",
  rangeWeek: "Week",
  rangeMonth: "Month",
  rangeYear: "Year",
  earlier: "Earlier period",
  later: "Later period",
  total: "Total in period: {0}",
  average: "Average in period: {0}",
  chartLabel: "Chart {0}, {1}: {2}",
  showTable: "Values as a table",
  periodStart: "Start",
  noData: "There are no readings for this period.",
  truncated: "The period holds more readings than one chart shows; the values are incomplete.",
  tariff: "Tariff registers",
  tariffStage: "Tariff stage",
  tariffTotal: "Total",
  tariffUseCase: "Tariff use case TAF {0}",
  noTariff: "No tariff is configured for this meter.",
  log: "Consumer log",
  logIntro: "What the gateway did with your data, and when.",
  calibration: "Calibration log",
  calibrationIntro:
    "Metrologically relevant events of your meters: the tariff you are billed by, closed billing periods and registers that ran backwards.",
  noCalibration: "No entries.",
  details: "Details",
  calTariffConfigured: "Tariff configured",
  calTariffRefused: "Tariff refused",
  calBillingClosed: "Billing period closed",
  calBillingNotBillable: "Billing period not billable",
  calRegisterBackwards: "Register ran backwards",
  event: "Event",
  level: "Level",
  outcome: "Outcome",
  levelInfo: "Information",
  levelWarning: "Warning",
  levelError: "Error",
  levelFatal: "Fatal error",
  outcomeSuccess: "succeeded",
  outcomeFailure: "failed",
  more: "Load more entries",
  noLog: "No entries.",
  export: "Export data",
  exportIntro:
    "Download your readings as an XML file in the VDE-AR-N 2418-6 format, for example to check your bill with the transparency and display software TRuDI.",
  exportFrom: "From (inclusive)",
  exportTo: "To (inclusive)",
  download: "Download XML file",
  exportInvalid: "Please choose a period of at most 400 days whose end is not before its start.",
  gatewayStatus: "Gateway status",
  stateOk: "running",
  stateDegraded: "degraded",
  stateDown: "unreachable",
  version: "Version {0}",
  diagnostics: "Diagnostics",
  technicianNote: "As service technician you see the gateway's state but no consumption data.",
  unit: "Service",
  state: "State",
  uptime: "Uptime",
  detail: "Note",
  displayDiagnostics: "Display service",
  sessions: "Open sessions",
  accounts: "Accounts",
  policyDigest: "Policy",
  loginFailures: "Failed sign-ins",
  throttled: "Slowed-down sign-in attempts",
  requests: "Requests",
  refresh: "Refresh",
  noscript: "This page needs JavaScript. The open interface under /api/v1 works without it.",
  apiLink: "Open interface (OpenAPI)",
};

/** Names of registers the page shows beside the OBIS code (value groups C.D.E). */
const registersDe: Record<string, string> = {
  "1.8.0": "Bezug gesamt",
  "1.8.1": "Bezug Tarif 1",
  "1.8.2": "Bezug Tarif 2",
  "2.8.0": "Einspeisung gesamt",
  "2.8.1": "Einspeisung Tarif 1",
  "2.8.2": "Einspeisung Tarif 2",
  "16.7.0": "Wirkleistung",
  "1.7.0": "Wirkleistung Bezug",
  "2.7.0": "Wirkleistung Einspeisung",
  "32.7.0": "Spannung L1",
  "52.7.0": "Spannung L2",
  "72.7.0": "Spannung L3",
  "31.7.0": "Strom L1",
  "51.7.0": "Strom L2",
  "71.7.0": "Strom L3",
  "14.7.0": "Netzfrequenz",
};
const registersEn: Record<string, string> = {
  "1.8.0": "Import total",
  "1.8.1": "Import tariff 1",
  "1.8.2": "Import tariff 2",
  "2.8.0": "Export total",
  "2.8.1": "Export tariff 1",
  "2.8.2": "Export tariff 2",
  "16.7.0": "Active power",
  "1.7.0": "Active power import",
  "2.7.0": "Active power export",
  "32.7.0": "Voltage L1",
  "52.7.0": "Voltage L2",
  "72.7.0": "Voltage L3",
  "31.7.0": "Current L1",
  "51.7.0": "Current L2",
  "71.7.0": "Current L3",
  "14.7.0": "Frequency",
};

export const LANGUAGES = ["de", "en"] as const;
export type Lang = (typeof LANGUAGES)[number];

export const MESSAGES: Record<Lang, Record<MessageKey, string>> = { de, en };
export const REGISTER_NAMES: Record<Lang, Record<string, string>> = {
  de: registersDe,
  en: registersEn,
};

export function text(lang: Lang, key: MessageKey): string {
  return MESSAGES[lang][key];
}

/** The consumer's choice (cookie), else the best Accept-Language match, else German. */
export function pickLanguage(cookieHeader: string | null, acceptLanguage: string | null): Lang {
  const chosen = /(?:^|;\s*)smgw_lang=(de|en)(?:;|$)/.exec(cookieHeader ?? "")?.[1];
  if (chosen === "de" || chosen === "en") return chosen;
  const ranked = (acceptLanguage ?? "")
    .slice(0, 512)
    .split(",")
    .map((part, i) => {
      const [tag = "", ...params] = part.trim().toLowerCase().split(";");
      const q = params.map((p) => /^\s*q=([01](?:\.\d{1,3})?)\s*$/.exec(p)?.[1]).find(Boolean);
      return { lang: tag.split("-")[0] ?? "", q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranked) if (r.lang === "de" || r.lang === "en") return r.lang;
  return "de";
}
