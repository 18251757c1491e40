/**
 * Escaping and number formatting for the report. Every string that came from a user (dataset,
 * labels, file names, error reasons) goes through {@link escapeHtml} before it reaches the page,
 * in text and in attributes alike (the one function escapes both quote kinds).
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** 0.8734 -> "87.3%"; not a number -> "–". */
export function percent(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '–' : `${(100 * value).toFixed(digits)}%`;
}

/** Signed percentage points: 0.052 -> "+5.2 pt". */
export function points(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const pt = 100 * value;
  return `${pt >= 0 ? '+' : '−'}${Math.abs(pt).toFixed(digits)} pt`;
}

export function fixed(value: number | undefined, digits = 3): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

/** Short scientific-ish form for values spanning decades (lambdas, losses): 3e-4, 0.031, 12.5. */
export function compact(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-3) {
    const [mantissa, exponent] = value.toExponential(1).split('e') as [string, string];
    return `${mantissa.replace(/\.0$/, '')}e${Number(exponent)}`;
  }
  return String(Number(value.toPrecision(3)));
}

/** An ISO timestamp as "2026-11-28 22:15 UTC"; anything else is shown as given. */
export function formatDate(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
