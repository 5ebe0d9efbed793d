// The browser script, imported as text by ui.ts.
declare const text: string;
export default text;
