import { describe, expect, it } from 'vitest';
import { lineChart, linearTicks, logTicks, stripChart } from '../../../src/report/svg.js';

/** Coordinates of a path's points ("M1 2L3 4..."). */
function coordinates(d: string): Array<[number, number]> {
  return [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

function pathsOf(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`<path class="${cls}"[^>]* d="([^"]+)"`, 'g'))].map((m) => m[1] as string);
}

describe('ticks', () => {
  it('chooses 1-2-5 linear steps covering the range', () => {
    expect(linearTicks(0, 1, 5).map((t) => t.value)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(0.3, 2.4, 4).map((t) => t.value)).toEqual([0.5, 1, 1.5, 2]);
  });

  it('puts log ticks on powers of ten, denser over short ranges', () => {
    expect(logTicks(1e-6, 0.1).map((t) => t.value)).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1]);
    expect(logTicks(1, 50).map((t) => t.value)).toEqual([1, 2, 5, 10, 20, 50]);
  });
});

describe('lineChart', () => {
  const chart = lineChart({
    id: 'c',
    title: 'a <title> & "quotes"',
    x: { label: 'k', kind: 'log' },
    y: { label: 'accuracy', min: 0, max: 1 },
    series: [
      { name: 'embedding <head>', color: '#00f', points: [1, 10, 100].map((x, i) => ({ x, y: 0.5 + 0.1 * i, lo: 0.45 + 0.1 * i, hi: 0.55 + 0.1 * i })) },
      { name: 'baseline', color: '#f80', dashed: true, points: [1, 10, 100].map((x) => ({ x, y: 0.3 })) },
    ],
    markers: [{ x: 10, label: 'chosen' }],
  });

  it('draws one path per series and a band where lo/hi are given', () => {
    const [embedding, baseline] = pathsOf(chart, 'series');
    expect(pathsOf(chart, 'series')).toHaveLength(2);
    expect(pathsOf(chart, 'band')).toHaveLength(1);
    const e = coordinates(embedding!);
    expect(e).toHaveLength(3);
    // Log x: equal ratios are equal distances; SVG y grows downwards.
    expect(e[1]![0] - e[0]![0]).toBeCloseTo(e[2]![0] - e[1]![0], 0);
    expect(e[2]![1]).toBeLessThan(e[0]![1]);
    expect(new Set(coordinates(baseline!).map((p) => p[1])).size).toBe(1);
    expect(chart).toContain('stroke-dasharray="6 4"');
  });

  it('escapes titles, legends and labels', () => {
    expect(chart).toContain('a &lt;title&gt; &amp; &quot;quotes&quot;');
    expect(chart).toContain('embedding &lt;head&gt;');
    expect(chart).not.toContain('<head>');
  });

  it('keeps points of a forced range inside the plot', () => {
    const clamped = lineChart({ id: 'x', title: 't', x: { label: 'x' }, y: { label: 'y', min: 0, max: 1 }, series: [{ name: 's', color: '#000', points: [{ x: 0, y: -5 }, { x: 1, y: 5 }] }] });
    const ys = coordinates(pathsOf(clamped, 'series')[0]!).map((p) => p[1]);
    expect(Math.max(...ys)).toBeLessThanOrEqual(300 - 46);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(36);
  });
});

describe('stripChart', () => {
  it('draws the box, the quantile dots and the threshold', () => {
    const svg = stripChart({
      id: 'ood',
      title: 't',
      label: 'score',
      quantiles: [0, 0.25, 0.5, 0.75, 1].map((q) => ({ q, score: 0.1 + 0.2 * q })),
      threshold: { value: 0.28, label: 'threshold 0.28' },
    });
    expect(svg.match(/<circle class="quantile"/g)).toHaveLength(5);
    expect(svg).toContain('<rect class="box"');
    expect(svg).toContain('<line class="threshold"');
    expect(svg).toContain('threshold 0.28');
  });
});
