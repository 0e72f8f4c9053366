/**
 * HTML that is safe by construction: every value interpolated into `html` is escaped, unless it
 * is itself Html (made by `html` or, for markup the firmware wrote itself, by `trusted`).
 */
export class Html {
  /** Use `html` or `trusted`; the constructor is not meant for user data. */
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** `html\`<p>${name}</p>\`` escapes name; nested html fragments and arrays of them pass through. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup written by the firmware itself (bundled CSS, a JSON island already escaped for <script>). */
export function trusted(markup: string): Html {
  return new Html(markup);
}
