import { describe, expect, it } from 'vitest';
import { renderReport, REPORT_CSP } from '../../../src/report/renderReport.js';
import type { ReportInput } from '../../../src/report/reportInput.js';

const EVIL = `<script>alert("x")</script>&'`;
const labels = ['cat', EVIL];

function baseInput(): ReportInput {
  return {
    dataset: `ds ${EVIL}`,
    version: 'v1',
    createdAt: '2026-01-01T00:00:00.000Z',
    backbone: { id: 'bb@123', name: `bb ${EVIL}` },
    head: { kind: 'linear', lambda: 1e-3 },
    labels,
    images: { total: 20, perLabel: { cat: 10, [EVIL]: 10 }, excluded: [{ key: `datasets/ds/cat/${EVIL}.png`, reason: `corrupt ${EVIL}` }] },
    metrics: {
      accuracy: 0.75,
      macroF1: 0.74,
      balancedAccuracy: 0.75,
      n: 20,
      labels,
      perClass: { cat: { precision: 0.8, recall: 0.7, f1: 0.75, support: 10 }, [EVIL]: { precision: 0.7, recall: 0.8, f1: 0.74, support: 10 } },
      confusion: [
        [7, 3],
        [2, 8],
      ],
    },
  };
}

function fullInput(): ReportInput {
  return {
    ...baseInput(),
    folds: 5,
    trainingCurve: [0.69, 0.4, 0.3, 0.25],
    lambdaScores: [1e-1, 1e-2, 1e-3].map((lambda, i) => ({ lambda, balancedAccuracy: 0.6 + 0.05 * i, accuracy: 0.62 + 0.05 * i, logLoss: 0.5 })),
    assessment: { verdict: 'helps little', explanation: `explained ${EVIL}`, baselineAccuracy: 0.7, gain: 0.05, backbones: [{ id: `bb ${EVIL}`, logme: 0.4, probeAccuracy: 0.75 }] },
    learningCurve: [
      { k: 1, embedding: { mean: 0.5, std: 0.1 }, baseline: { mean: 0.5, std: 0.1 } },
      { k: 5, embedding: { mean: 0.7, std: 0.05 } },
      { k: 'all', embedding: { mean: 0.75, std: 0.02 }, baseline: { mean: 0.7, std: 0.03 } },
    ],
    outOfDomain: { method: 'knn', k: 5, threshold: 0.2, falseAlarmRate: 0.05, calibration: { rows: 20, folds: 5, oofFalseAlarmRate: 0.05, quantiles: [0, 0.5, 1].map((q) => ({ q, score: 0.1 + 0.15 * q })) } },
    misclassified: [
      { key: `datasets/ds/cat/${EVIL}.jpg`, trueLabel: 'cat', predictedLabel: EVIL, probability: 0.9, thumbnail: 'data:image/jpeg;base64,AAAA' },
      { key: 'datasets/ds/cat/b.jpg', trueLabel: 'cat', predictedLabel: EVIL, probability: 0.6 },
    ],
    misclassifiedTotal: 5,
  };
}

/** The element names the page contains: any injected markup would add one. */
function tags(html: string): Set<string> {
  return new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => (m[1] as string).toLowerCase()));
}

describe('renderReport', () => {
  it('escapes every user string: no markup from labels, names, keys or reasons reaches the page', () => {
    const html = renderReport(fullInput());
    expect(html).not.toContain('<script');
    expect(html).not.toContain(EVIL);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    const allowed = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'main', 'header', 'h1', 'h2', 'h3', 'div', 'dl', 'dt', 'dd', 'code', 'section', 'p', 'span', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td', 'svg', 'line', 'text', 'path', 'circle', 'rect', 'details', 'summary', 'figure', 'img', 'figcaption', 'br', 'ul', 'li', 'footer']);
    expect([...tags(html)].filter((t) => !allowed.has(t))).toEqual([]);
  });

  it('forbids every fetch but data: images and holds no external reference', () => {
    const html = renderReport(fullInput());
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`);
    expect(REPORT_CSP).toContain("default-src 'none'");
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html).not.toMatch(/url\(/);
  });

  it('shows every section when its data is there', () => {
    const html = renderReport(fullInput());
    for (const id of ['summary', 'verdict', 'learning-curve', 'per-class', 'confusion', 'misclassified', 'training', 'out-of-domain', 'excluded']) {
      expect(html).toContain(`<section id="${id}">`);
    }
    expect(html).toContain('<svg id="learning-curve-plot"');
    expect(html).toContain('<svg id="training-curve-plot"');
    expect(html).toContain('<svg id="lambda-plot"');
    expect(html).toContain('<svg id="ood-plot"');
    expect(html).toContain('class="verdict little"');
    expect(html).toContain('+5.0 pt');
    // Baseline only where given: two of the three k values.
    expect(html.match(/<path class="series" data-series="1"[^>]*d="([^"]+)"/)?.[1]?.match(/L/g)).toHaveLength(1);
    // The thumbnail where there is one, a placeholder where there is not.
    expect(html.match(/<img /g)).toHaveLength(1);
    expect(html).toContain('no preview');
    expect(html).toContain('2 of 5 shown');
    // The confusion cells carry their counts and a colour by the row's share.
    expect(html.match(/<td class="cell"/g)).toHaveLength(4);
    expect(html).toMatch(/<td class="cell" style="background:rgba\(37,99,235,0\.72\)[^>]*>8</);
  });

  it('leaves out the sections whose data is absent', () => {
    const html = renderReport({ ...baseInput(), images: { ...baseInput().images, excluded: [] } });
    for (const id of ['verdict', 'learning-curve', 'misclassified', 'training', 'out-of-domain', 'excluded']) {
      expect(html).not.toContain(`<section id="${id}">`);
    }
    for (const id of ['summary', 'per-class', 'confusion']) expect(html).toContain(`<section id="${id}">`);
  });

  it('says so when nothing was misclassified', () => {
    const html = renderReport({ ...baseInput(), misclassified: [], misclassifiedTotal: 0 });
    expect(html).toContain('None: every image was predicted right out-of-fold.');
  });
});

describe('renderReport of a text version', () => {
  function textInput(): ReportInput {
    return {
      ...fullInput(),
      modality: 'text',
      backbone: { id: 'tfidf@0123456789abcdef', name: 'tfidf' },
      representation: { kind: 'tfidf', choice: `no encoder installed ${EVIL}` },
      assessment: undefined,
      learningCurve: [
        { k: 1, embedding: { mean: 0.3, std: 0.05 }, seeds: 3 },
        { k: 20, embedding: { mean: 0.8, std: 0.01 }, seeds: 3 },
      ],
      learningCurveSeries: { embedding: 'TF-IDF + linear head (no pretraining)' },
      outOfDomain: { method: 'max-probability', threshold: 0.4, falseAlarmRate: 0.05 },
      misclassified: [
        { key: 'datasets/ds/cat/a1.txt', trueLabel: 'cat', predictedLabel: EVIL, probability: 0.9, text: '<script>alert(1)</script> where is my card?' },
        { key: 'datasets/ds/cat/a2.txt', trueLabel: 'cat', predictedLabel: EVIL, probability: 0.6 },
      ],
    };
  }

  it('lists the misclassified texts, escaped, where images show thumbnails', () => {
    const html = renderReport(textInput());
    expect(html).not.toContain('<script');
    expect(html).toContain('<p class="text">&lt;script&gt;alert(1)&lt;/script&gt; where is my card?</p>');
    expect(html).toContain('text not readable');
    expect(html.match(/<li class="snippet"/g)).toHaveLength(2);
    expect(html).not.toContain('<img ');
    expect(html).not.toContain('class="thumb"');
    expect(html).toContain('<h2>Misclassified validation texts</h2>');
    expect(html).toContain('90% &lt;script&gt;');
  });

  it('names texts and TF-IDF throughout, and draws the one-series curve with its own name', () => {
    const html = renderReport(textInput());
    expect(html).not.toMatch(/images|pixel|\(frozen\)/);
    expect(html).toContain('<dt>representation</dt><dd>TF-IDF n-grams fitted on the training texts (no pretraining) <code>tfidf@0123456789abcdef</code></dd>');
    expect(html).toContain(`<dt>why</dt><dd>no encoder installed ${'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;'}</dd>`);
    expect(html).toContain('<svg id="learning-curve-plot"');
    expect(html).toContain('TF-IDF + linear head (no pretraining)');
    const curve = html.match(/<svg id="learning-curve-plot"[\s\S]*?<\/svg>/)?.[0] ?? '';
    expect(curve).toContain('data-series="0"');
    expect(curve).not.toContain('data-series="1"');
    expect(html).toContain('1 − the largest class probability');
    expect(html).toContain('training texts per class');
  });

  it('names the TF-IDF baseline in a text verdict', () => {
    const html = renderReport({ ...textInput(), assessment: { verdict: 'helps', baseline: 'tfidf', baselineAccuracy: 0.7, gain: 0.1, backbones: [{ id: 'minilm@1', probeAccuracy: 0.8 }] } });
    expect(html).toContain('no transfer (TF-IDF baseline)');
    expect(html).not.toContain('pixel baseline');
  });
});
