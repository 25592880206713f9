/**
 * A tiny HTML template: `html\`<p>${value}</p>\`` escapes every interpolated value unless it is
 * already `Html` (another template, or `raw()` for markup we wrote ourselves). Arrays are joined.
 * Escaping covers text and quoted attribute values (& < > " ' `); never interpolate into an
 * unquoted attribute, a URL scheme position, `<script>` or `<style>`.
 */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup written by Tessera itself (never data). */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** A query string from parameters, skipping empty ones (escaped again when interpolated). */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
