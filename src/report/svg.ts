/**
 * A few inline-SVG plots for the report, drawn here so the page needs no chart library and no
 * network: a line chart (linear or log axes, optional ±band per series, vertical markers) and a
 * one-row distribution strip (quantiles with a threshold line).
 *
 * Every label passes through escapeHtml; numbers are rounded to 0.1 px to keep the markup small.
 */
import { compact, escapeHtml } from './html.js';

export type AxisKind = 'linear' | 'log';

export interface Tick {
  value: number;
  label: string;
}

export interface AxisSpec {
  label: string;
  kind?: AxisKind;
  /** Forced domain ends (e.g. accuracy from 0 to 1); otherwise fitted to the data. */
  min?: number;
  max?: number;
  /** Explicit ticks (e.g. an "all" tick); otherwise chosen here. */
  ticks?: Tick[];
  format?: (value: number) => string;
}

export interface SeriesPoint {
  x: number;
  y: number;
  /** Band around the line (mean ± std). */
  lo?: number;
  hi?: number;
}

export interface Series {
  name: string;
  color: string;
  points: SeriesPoint[];
  dashed?: boolean;
  /** Draw a dot per point (off for long curves such as 1000 optimiser iterations). */
  dots?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface ChartSpec {
  /** Element id of the <svg>. */
  id: string;
  title: string;
  width?: number;
  height?: number;
  x: AxisSpec;
  y: AxisSpec;
  series: Series[];
  markers?: Marker[];
}

const MARGIN = { left: 58, right: 18, top: 36, bottom: 46 };

const r1 = (v: number): string => String(Math.round(v * 10) / 10);

interface Scale {
  (value: number): number;
  ticks: Tick[];
}

/** "Nice" linear ticks (steps of 1, 2 or 5 times a power of ten). */
export function linearTicks(min: number, max: number, count = 5, format: (v: number) => string = compact): Tick[] {
  if (!(max > min)) return [{ value: min, label: format(min) }];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  // The 1-2-5 step whose number of intervals comes closest to `count` (the larger step on a tie).
  const step = [10, 5, 2, 1]
    .map((m) => m * power)
    .reduce((best, s) => (Math.abs((max - min) / s - count) < Math.abs((max - min) / best - count) ? s : best));
  const ticks: Tick[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    const value = Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12));
    ticks.push({ value, label: format(value) });
  }
  return ticks;
}

/** Powers of ten in range; 1-2-5 steps when the range spans under two decades. */
export function logTicks(min: number, max: number, format: (v: number) => string = compact): Tick[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const decades = Math.log10(max / min);
  const multiples = decades < 2 ? [1, 2, 5] : decades < 4 ? [1, 3] : [1];
  const ticks: Tick[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of multiples) {
      const value = Number((m * 10 ** e).toPrecision(12));
      if (value >= min * (1 - 1e-9) && value <= max * (1 + 1e-9)) ticks.push({ value, label: format(value) });
    }
  }
  return ticks.length >= 2 ? ticks : [{ value: min, label: format(min) }, { value: max, label: format(max) }];
}

function makeScale(axis: AxisSpec, values: number[], from: number, to: number): Scale {
  const log = axis.kind === 'log';
  const usable = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let min = axis.min ?? (usable.length > 0 ? Math.min(...usable) : 0);
  let max = axis.max ?? (usable.length > 0 ? Math.max(...usable) : 1);
  if (!(max > min)) {
    const pad = log ? min : Math.abs(min) * 0.1 || 1;
    min = log ? min / 2 : min - pad;
    max = log ? max * 2 : max + pad;
  }
  if (!log && axis.min === undefined && axis.max === undefined) {
    const pad = (max - min) * 0.05;
    min -= pad;
    max += pad;
  }
  const t = log ? Math.log10 : (v: number) => v;
  const [t0, t1] = [t(min), t(max)];
  const scale = ((value: number) => from + ((t(value) - t0) / (t1 - t0)) * (to - from)) as Scale;
  const format = axis.format ?? compact;
  scale.ticks = (axis.ticks ?? (log ? logTicks(min, max, format) : linearTicks(min, max, 5, format))).filter(
    (tick) => tick.value >= min - (max - min) * 1e-9 && tick.value <= max + (max - min) * 1e-9,
  );
  return scale;
}

function pathOf(points: Array<[number, number]>): string {
  return points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${r1(x)} ${r1(y)}`).join('');
}

/** A line chart as an inline <svg> element. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 300;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: height - MARGIN.bottom, y1: MARGIN.top };
  const points = spec.series.flatMap((s) => s.points);
  const xs = [...points.map((p) => p.x), ...(spec.markers ?? []).map((m) => m.x), ...(spec.x.ticks ?? []).map((t) => t.value)];
  const ys = points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]);
  const x = makeScale(spec.x, xs, plot.x0, plot.x1);
  const y = makeScale(spec.y, ys, plot.y0, plot.y1);
  const clampY = (v: number): number => Math.min(plot.y0, Math.max(plot.y1, y(v)));
  const out: string[] = [];
  out.push(
    `<svg id="${escapeHtml(spec.id)}" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}" xmlns="http://www.w3.org/2000/svg">`,
  );
  out.push(`<title>${escapeHtml(spec.title)}</title>`);
  // Grid and axes.
  for (const tick of y.ticks) {
    const py = r1(y(tick.value));
    out.push(`<line class="grid" x1="${plot.x0}" x2="${plot.x1}" y1="${py}" y2="${py}"/>`);
    out.push(`<text class="tick" x="${plot.x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeHtml(tick.label)}</text>`);
  }
  for (const tick of x.ticks) {
    const px = r1(x(tick.value));
    out.push(`<line class="grid" x1="${px}" x2="${px}" y1="${plot.y1}" y2="${plot.y0}"/>`);
    out.push(`<text class="tick" x="${px}" y="${plot.y0 + 16}" text-anchor="middle">${escapeHtml(tick.label)}</text>`);
  }
  out.push(`<path class="axis" d="M${plot.x0} ${plot.y1}V${plot.y0}H${plot.x1}"/>`);
  out.push(`<text class="axis-label" x="${r1((plot.x0 + plot.x1) / 2)}" y="${height - 8}" text-anchor="middle">${escapeHtml(spec.x.label)}</text>`);
  out.push(
    `<text class="axis-label" transform="translate(14 ${r1((plot.y0 + plot.y1) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(spec.y.label)}</text>`,
  );
  // Markers under the data.
  for (const marker of spec.markers ?? []) {
    const px = r1(x(marker.x));
    const color = marker.color ?? '#6b7280';
    out.push(`<line class="marker" x1="${px}" x2="${px}" y1="${plot.y1}" y2="${plot.y0}" stroke="${color}" stroke-dasharray="4 3"/>`);
    // Anchored away from the nearer edge, so a marker at the end of the axis keeps its label inside.
    const at = x(marker.x);
    const anchor = at - plot.x0 < 60 ? 'start' : plot.x1 - at < 60 ? 'end' : 'middle';
    const dx = anchor === 'start' ? 4 : anchor === 'end' ? -4 : 0;
    out.push(`<text class="marker-label" x="${r1(at + dx)}" y="${plot.y1 + 12}" text-anchor="${anchor}" fill="${color}">${escapeHtml(marker.label)}</text>`);
  }
  // Bands, then lines, then dots.
  spec.series.forEach((s, i) => {
    const banded = s.points.filter((p) => p.lo !== undefined && p.hi !== undefined && Number.isFinite(p.lo) && Number.isFinite(p.hi));
    if (banded.length >= 2) {
      const upper = banded.map((p): [number, number] => [x(p.x), clampY(p.hi as number)]);
      const lower = banded.map((p): [number, number] => [x(p.x), clampY(p.lo as number)]).reverse();
      out.push(`<path class="band" data-series="${i}" d="${pathOf([...upper, ...lower])}Z" fill="${s.color}"/>`);
    }
  });
  spec.series.forEach((s, i) => {
    const line = s.points.filter((p) => Number.isFinite(p.y) && Number.isFinite(x(p.x))).map((p): [number, number] => [x(p.x), clampY(p.y)]);
    if (line.length === 0) return;
    out.push(
      `<path class="series" data-series="${i}" data-name="${escapeHtml(s.name)}" d="${pathOf(line)}" stroke="${s.color}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    if (s.dots ?? line.length <= 40) {
      for (const [px, py] of line) out.push(`<circle class="dot" cx="${r1(px)}" cy="${r1(py)}" r="3" fill="${s.color}"/>`);
    }
  });
  // Legend along the top.
  let lx = plot.x0;
  for (const s of spec.series) {
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="14" y2="14" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text class="legend" x="${lx + 24}" y="14" dominant-baseline="middle">${escapeHtml(s.name)}</text>`);
    lx += 24 + 7 * s.name.length + 22;
  }
  out.push('</svg>');
  return out.join('');
}

export interface StripSpec {
  id: string;
  title: string;
  label: string;
  /** Quantiles of a distribution (q in [0, 1]); drawn as whiskers (outermost), box (25–75%) and median. */
  quantiles: Array<{ q: number; score: number }>;
  threshold?: { value: number; label: string };
  width?: number;
}

/** A one-row box plot of a distribution, with a threshold line. */
export function stripChart(spec: StripSpec): string {
  const width = spec.width ?? 640;
  const height = 110;
  const x0 = 24;
  const x1 = width - 24;
  const at = (q: number): number | undefined => spec.quantiles.find((p) => Math.abs(p.q - q) < 1e-9)?.score;
  const values = [...spec.quantiles.map((p) => p.score), ...(spec.threshold ? [spec.threshold.value] : [])];
  const x = makeScale({ label: spec.label, min: 0, max: Math.max(...values) * 1.15 || 1 }, values, x0, x1);
  const cy = 48;
  const out: string[] = [];
  out.push(
    `<svg id="${escapeHtml(spec.id)}" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}" xmlns="http://www.w3.org/2000/svg">`,
  );
  out.push(`<title>${escapeHtml(spec.title)}</title>`);
  out.push(`<path class="axis" d="M${x0} ${cy + 24}H${x1}"/>`);
  for (const tick of x.ticks) {
    const px = r1(x(tick.value));
    out.push(`<line class="grid" x1="${px}" x2="${px}" y1="${cy + 24}" y2="${cy + 28}"/>`);
    out.push(`<text class="tick" x="${px}" y="${cy + 40}" text-anchor="middle">${escapeHtml(tick.label)}</text>`);
  }
  out.push(`<text class="axis-label" x="${r1((x0 + x1) / 2)}" y="${height - 4}" text-anchor="middle">${escapeHtml(spec.label)}</text>`);
  const sorted = [...spec.quantiles].sort((a, b) => a.q - b.q);
  const lo = sorted[0];
  const hi = sorted.at(-1);
  const q25 = at(0.25);
  const q50 = at(0.5);
  const q75 = at(0.75);
  if (lo && hi) out.push(`<path class="whisker" d="M${r1(x(lo.score))} ${cy}H${r1(x(hi.score))}"/>`);
  if (q25 !== undefined && q75 !== undefined) {
    out.push(`<rect class="box" x="${r1(x(q25))}" y="${cy - 12}" width="${r1(Math.max(1, x(q75) - x(q25)))}" height="24"/>`);
  }
  if (q50 !== undefined) out.push(`<path class="median" d="M${r1(x(q50))} ${cy - 12}V${cy + 12}"/>`);
  for (const p of sorted) {
    out.push(`<circle class="quantile" cx="${r1(x(p.score))}" cy="${cy}" r="2.5"><title>${escapeHtml(`${Math.round(p.q * 100)}%: ${p.score.toFixed(4)}`)}</title></circle>`);
  }
  if (spec.threshold) {
    const px = r1(x(spec.threshold.value));
    out.push(`<line class="threshold" x1="${px}" x2="${px}" y1="${cy - 26}" y2="${cy + 24}"/>`);
    out.push(`<text class="threshold-label" x="${px}" y="${cy - 30}" text-anchor="middle">${escapeHtml(spec.threshold.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('');
}
