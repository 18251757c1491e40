/**
 * The report from real data, opened in headless Chromium: a head trained on 100 real Fashion-MNIST
 * embeddings (10 a class, so it makes real out-of-fold mistakes), its out-of-domain calibration,
 * thumbnails read back from the store, and the page checked for its plots, its table, decoded
 * thumbnails and the absence of any network request.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone } from '../../../src/backbone/Backbone.js';
import { datasetObjectKey } from '../../../src/dataset/keys.js';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';
import { buildReportInput } from '../../../src/report/reportInput.js';
import { renderReport } from '../../../src/report/renderReport.js';
import { trainHead } from '../../../src/training/trainHead.js';
import { encodeOutOfDomain, fitOutOfDomain } from '../../../src/transfer/outOfDomain.js';
import { tempStore } from '../../helpers/fakes.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';

const PER_CLASS = 10;
/** One label carries HTML metacharacters, as a user's label may: the page must show it, not parse it. */
const HOSTILE_LABEL = `shirt <b class="x">&amp; "it's"`;
/** Kept after the run for a person to look at (the page and its screenshot). */
const SCREENSHOT = '/tmp/headstart-report.png';
const PAGE_COPY = '/tmp/headstart-report.html';

let html = '';
let context: BrowserContext | undefined;
let userDataDir = '';
let work = '';

beforeAll(async () => {
  const { store, cleanup } = await tempStore();
  work = await mkdtemp(path.join(tmpdir(), 'hs-report-'));
  try {
    // 10 images of each Fashion-MNIST class, uploaded to the store under their label.
    const root = path.join(datasetsDir(), 'fashion_mnist', 'train');
    const classes = (await readdir(root)).sort();
    const files: { key: string; bytes: Buffer; label: string }[] = [];
    for (const cls of classes) {
      const label = cls === 'shirt' ? HOSTILE_LABEL : cls;
      for (const file of (await readdir(path.join(root, cls))).sort().slice(0, PER_CLASS)) {
        const bytes = await readFile(path.join(root, cls, file));
        const key = datasetObjectKey('fashion', label, file);
        await store.put(key, bytes);
        files.push({ key, bytes, label });
      }
    }
    const classNames = [...new Set(files.map((f) => f.label))].sort();

    const backbone = await Backbone.load(undefined, { modelsDir: modelsDir() });
    const embedded = await backbone.embedImages(files.map((f) => f.bytes));
    await backbone.release();
    const d = backbone.embeddingSize;
    const embeddings = new Float32Array(files.length * d);
    embedded.forEach((e, i) => {
      if (!(e instanceof Float32Array)) throw e;
      embeddings.set(e, i * d);
    });
    const labels = Int32Array.from(files, (f) => classNames.indexOf(f.label));
    const head = await trainHead({ embeddings, dims: [files.length, d], labels, classNames }, { folds: 5, lambdas: [1e-2, 1e-3, 1e-4] });
    const ood = encodeOutOfDomain(await fitOutOfDomain({ embeddings, dims: [files.length, d], labels, folds: head.folds }));

    const { balancedAccuracy: _b, logLoss: _l, folds: _f, ...metrics } = head.metrics;
    const manifest: ModelManifest & Record<string, unknown> = {
      dataset: 'fashion',
      version: 'v20260101T000000000Z-abcd',
      createdAt: new Date().toISOString(),
      labels: head.classNames,
      backbone: { id: backbone.id, name: backbone.spec.name, sha256: backbone.spec.sha256, embeddingSize: d },
      preprocessing: backbone.spec.preprocessing,
      head: { kind: head.kind, lambda: head.lambda, file: 'head.onnx' },
      metrics,
      validation: { balancedAccuracy: head.metrics.balancedAccuracy, logLoss: head.metrics.logLoss, lambdaScores: head.lambdaScores, selection: head.settings.selection },
      training: {
        seed: 0,
        folds: head.settings.folds,
        lambdas: head.settings.lambdas,
        device: 'cpu',
        durationMs: 0,
        imagesPerLabel: Object.fromEntries(classNames.map((c) => [c, PER_CLASS])),
        curve: head.trainingCurve,
      },
      data: { fingerprint: 'test', images: files.length, excluded: [{ key: datasetObjectKey('fashion', 'bag', 'broken <1>.png'), reason: 'corrupt_image: truncated & unreadable' }] },
      files: { head: 'head.onnx' },
      outOfDomain: ood.manifest,
      // The transfer module's sections, in the shape it writes to model.json (fixture values: this
      // test is about drawing them, the transfer tests are about computing them).
      assessment: {
        backbones: [{ id: backbone.id, logme: 1.234, probeAccuracy: head.metrics.accuracy, rankByLogme: 1, rankByProbe: 1 }],
        baselineAccuracy: 0.61,
        gain: head.metrics.accuracy - 0.61,
        gainInterval: [head.metrics.accuracy - 0.7, head.metrics.accuracy - 0.52],
        verdict: 'helps',
        confident: true,
        negativeTransfer: false,
        explanation: 'The pretrained embedding beats the pixel baseline by a clear margin at every k.',
        chosen: backbone.id,
        n: files.length,
        thresholds: { helps: 0.1, doesNotHelp: 0.02 },
      },
      learningCurve: {
        points: [
          curvePoint(1, [0.42, 0.06], [0.3, 0.05]),
          curvePoint(2, [0.55, 0.05], [0.38, 0.05]),
          curvePoint(5, [0.68, 0.03], [0.5, 0.04]),
          curvePoint('all', [0.74, 0.02], [0.58, 0.03]),
        ],
        heldOut: 30,
        regularization: 0.1,
        metric: 'balancedAccuracy',
        skipped: [],
      },
    };
    const input = await buildReportInput(store, manifest, { keys: files.map((f) => f.key), labels, classNames, oofProbabilities: head.oofProbabilities });
    expect(input.misclassifiedTotal).toBeGreaterThan(0);
    html = renderReport(input);
  } finally {
    await cleanup();
  }
  userDataDir = await mkdtemp(path.join(tmpdir(), 'hs-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
  });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe('model report in headless Chromium', () => {
  it('is one small self-contained file', () => {
    expect(Buffer.byteLength(html)).toBeLessThan(2 * 1024 * 1024);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
  });

  it('draws the plots, the tables and the thumbnails without any network request', async () => {
    const file = path.join(work, 'report.html');
    await writeFile(file, html);
    await writeFile(PAGE_COPY, html);
    const url = pathToFileURL(file).href;
    const page = await context!.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(url, { waitUntil: 'load' });

    // Learning curve: two series (embedding, baseline) with their bands; training curve: one long path.
    const learning = await page.$$eval('#learning-curve-plot path.series', (paths) => paths.map((p) => p.getAttribute('d') ?? ''));
    expect(learning).toHaveLength(2);
    for (const d of learning) expect(d.match(/L/g)?.length).toBe(3);
    expect(await page.locator('#learning-curve-plot path.band').count()).toBe(2);
    const training = await page.$eval('#training-curve-plot path.series', (p) => p.getAttribute('d') ?? '');
    expect((training.match(/L/g)?.length ?? 0) + 1).toBeGreaterThan(5);
    expect(await page.locator('#lambda-plot path.series').count()).toBeGreaterThan(0);
    expect(await page.locator('#ood-plot line.threshold').count()).toBe(1);

    // Confusion matrix: 10 x 10 cells whose counts add up to the 100 images.
    const cells = await page.$$eval('#confusion-table td.cell', (tds) => tds.map((td) => Number(td.textContent)));
    expect(cells).toHaveLength(100);
    expect(cells.reduce((a, b) => a + b, 0)).toBe(100);

    // Thumbnails of the misclassified images, decoded by the browser.
    // (No DOM lib in this project's tsconfig: the element is typed by what is read from it.)
    type Img = { complete: boolean; naturalWidth: number; src: string };
    const thumbs = await page.$$eval('#misclassified img', (imgs) =>
      imgs.map((el) => {
        const img = el as unknown as Img;
        return { ok: img.complete, w: img.naturalWidth, src: img.src.slice(0, 23) };
      }),
    );
    expect(thumbs.length).toBeGreaterThan(0);
    for (const t of thumbs) {
      expect(t.ok).toBe(true);
      expect(t.w).toBe(64);
      expect(t.src).toBe('data:image/jpeg;base64,');
    }

    // The hostile label is shown as text, never parsed as markup.
    expect(await page.locator('main b').count()).toBe(0);
    expect(await page.locator('#per-class-table').innerText()).toContain(HOSTILE_LABEL);
    expect(await page.locator('#excluded summary').innerText()).toContain('1 image');

    expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
    const shot = path.join(work, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await readFile(shot)).length).toBeGreaterThan(10_000);
    await page.close();
  });
});

function curvePoint(k: number | 'all', [mean, std]: [number, number], [baseMean, baseStd]: [number, number]) {
  const perClass = k === 'all' ? 7 : k;
  return { k, perClass, trainImages: perClass * 10, embedding: { mean, std, values: [mean] }, baseline: { mean: baseMean, std: baseStd, values: [baseMean] }, seeds: 5 };
}
