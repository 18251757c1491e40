import { describe, expect, it } from 'vitest';
import { compact, escapeHtml, fixed, formatDate, percent, points } from '../../../src/report/html.js';

describe('escapeHtml', () => {
  it('escapes every character that could open markup or leave an attribute', () => {
    expect(escapeHtml(`<img src=x onerror="alert('1')">&amp;`)).toBe('&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;amp;');
    expect(escapeHtml('plain label')).toBe('plain label');
    expect(escapeHtml(42)).toBe('42');
  });
});

describe('formatting', () => {
  it('formats shares, points and numbers, with a dash for missing values', () => {
    expect(percent(0.8734)).toBe('87.3%');
    expect(percent(undefined)).toBe('–');
    expect(percent(NaN)).toBe('–');
    expect(points(0.052)).toBe('+5.2 pt');
    expect(points(-0.1)).toBe('−10.0 pt');
    expect(fixed(0.12345)).toBe('0.123');
    expect(compact(3e-4)).toBe('3e-4');
    expect(compact(1e-1)).toBe('0.1');
    expect(compact(0.0314159)).toBe('0.0314');
    expect(compact(12345)).toBe('1.2e4');
    expect(compact(0)).toBe('0');
    expect(formatDate('2026-11-28T22:15:00.123Z')).toBe('2026-11-28 22:15 UTC');
    expect(formatDate('not a date')).toBe('not a date');
  });
});
