/**
 * Text datasets trained on a text encoder, with real components: tiny-bert-random (random weights,
 * the real MiniLM tokenizer) registered in a temporary HEADSTART_HOME, a banking77 subset uploaded
 * as a CSV (8 intents x 15 texts), the local runtime's SQLite index and folder store, onnxruntime.
 *
 * - no --backbone: the registered encoder is the default, so the version is an encoder version
 *   (head.onnx, k-NN out-of-domain, the encoder's id and preprocessing, the encoder-vs-TF-IDF verdict,
 *   the learning curve of the encoder beside TF-IDF, misclassified texts, report.html);
 * - it serves: TextPredictor, `eval` on a CSV, POST /datasets/{name}/predict, `predict --text`; a
 *   server without the encoder answers 409 naming it and how to install it; `assess` compares it with TF-IDF;
 * - --backbone tfidf trains TF-IDF; --backbone auto measures both and picks TF-IDF (random weights
 *   lose), saying why with both numbers;
 * - the Batch job's entry follows the same policy (the stack's configured encoder as the default);
 * - texts uploaded before the encoder was installed are embedded with it first.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../../src/api/router.js';
import { evaluateTable, uploadTable } from '../../../src/cli/commands/text.js';
import { localConfig } from '../../../src/config.js';
import { runTrainJob } from '../../../src/edges/batch/trainJob.js';
import { EmbeddingCache } from '../../../src/embeddings/EmbeddingCache.js';
import { BackboneMismatchError, InvalidTextError } from '../../../src/errors.js';
import { LocalRuntime } from '../../../src/local/LocalRuntime.js';
import { TextPredictor } from '../../../src/pipeline/predictText.js';
import type { Prediction } from '../../../src/pipeline/predict.js';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';
import type { MisclassifiedList } from '../../../src/registry/misclassified.js';
import { escapeHtml } from '../../../src/report/html.js';
import { registerTextBackbone } from '../../../src/text/registerTextBackbone.js';
import { encoderCurveSeries, TEXT_CURVE_SERIES } from '../../../src/text/textLearningCurve.js';
import { runCli } from '../../helpers/reliability.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';

const ENCODER = 'tiny-random';
const INTENTS = ['activate_my_card', 'card_arrival', 'cash_withdrawal_charge', 'exchange_rate', 'lost_or_stolen_card', 'pin_blocked', 'top_up_failed', 'transfer_not_received_by_recipient'];
const csvCell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

let home: string;
let work: string;
let runtime: LocalRuntime;
let encoderId: string;

async function writeSubset(): Promise<void> {
  const rows = parse(await readFile(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
  const seen = new Map<string, number>();
  const train: string[] = [];
  const test: string[] = [];
  const early: string[] = [];
  for (const r of rows) {
    if (!INTENTS.includes(r.category)) continue;
    const n = seen.get(r.category) ?? 0;
    seen.set(r.category, n + 1);
    const line = `${csvCell(r.text)},${r.category}`;
    if (n < 15) train.push(line);
    else if (n < 20) test.push(line);
    else if (n < 24 && INTENTS.indexOf(r.category) < 3) early.push(line);
  }
  await writeFile(path.join(work, 'train.csv'), `text,category\n${train.join('\n')}\n`);
  await writeFile(path.join(work, 'test.csv'), `text,category\n${test.join('\n')}\n`);
  await writeFile(path.join(work, 'early.csv'), `text,category\n${early.join('\n')}\n`);
}

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'headstart-encoder-home-'));
  work = await mkdtemp(path.join(tmpdir(), 'headstart-encoder-work-'));
  await writeSubset();
  const config = localConfig({ ...process.env, HEADSTART_HOME: home });
  // Uploaded before any encoder is installed: only validated at extraction, no encoder embedding cached.
  const before = await LocalRuntime.open(config, { consume: true });
  try {
    expect((await uploadTable(before, path.join(work, 'early.csv'), 'early', { label: 'category' })).embedded).toBe(12);
  } finally {
    await before.close();
  }
  const registered = await registerTextBackbone(
    path.join(modelsDir(), 'text', 'tiny-bert-random.onnx'),
    { name: ENCODER, tokenizer: path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json') },
    path.join(home, 'backbones'),
  );
  encoderId = registered.id;
  runtime = await LocalRuntime.open(config, { consume: true });
  const uploaded = await uploadTable(runtime, path.join(work, 'train.csv'), 'bank', { label: 'category' });
  expect(uploaded.embedded).toBe(120);
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(home, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('text datasets on a text encoder', () => {
  let encoderVersion: ModelManifest;

  it('extraction embedded the uploads with the default (registered) encoder', async () => {
    const entries = [];
    for await (const e of runtime.index.entries('bank', { state: 'embedded' })) entries.push(e);
    expect(entries).toHaveLength(120);
    expect(new Set(entries.map((e) => e.backbone))).toEqual(new Set([encoderId]));
  });

  it('trains on the default encoder when no --backbone is given: head.onnx, its id and preprocessing, out-of-domain, the verdict', async () => {
    encoderVersion = await runtime.train('bank');
    expect(encoderVersion.modality).toBe('text');
    expect(encoderVersion.text).toMatchObject({ representation: 'encoder', choice: expect.stringContaining(`default text encoder "${ENCODER}"`) });
    expect(encoderVersion.backbone).toMatchObject({ id: encoderId, name: ENCODER, embeddingSize: 32, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(encoderVersion.preprocessing).toMatchObject({ tokenizerSha256: 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0', maxTokens: 256, pooling: 'mean', normalize: 'l2' });
    expect(encoderVersion.head).toMatchObject({ kind: 'linear', file: 'head.onnx' });
    expect(encoderVersion.data.images).toBe(120);
    expect(encoderVersion.outOfDomain).toMatchObject({ method: 'knn', falseAlarmRate: 0.05 });
    // Every train measures whether pretraining helps: here the encoder against TF-IDF, on the same texts.
    expect(encoderVersion.assessment).toMatchObject({ baseline: 'tfidf', chosen: encoderId, n: 120 });
    expect(encoderVersion.assessment!.explanation).toMatch(/120 labelled texts.*TF-IDF/);
  }, 120_000);

  it('keeps the learning curve of the encoder beside TF-IDF, every mistake and the report, as TF-IDF and image versions do', async () => {
    const curve = encoderVersion.learningCurve!;
    expect(curve.series).toEqual({ embedding: encoderCurveSeries(ENCODER), baseline: TEXT_CURVE_SERIES });
    // 15 texts an intent: 5 held out, a pool of 10, so k = 10 and up are skipped and "all" trains on 10 each.
    expect(curve.points.map((p) => p.k)).toEqual([1, 2, 5, 'all']);
    expect(curve.points.map((p) => p.trainImages)).toEqual([8, 16, 40, 80]);
    expect(curve.skipped).toEqual([10, 20, 50, 100, 200, 500, 1000]);
    for (const p of curve.points) {
      expect(p.embedding.values).toHaveLength(3);
      expect(p.baseline!.values).toHaveLength(3);
      for (const v of [...p.embedding.values, ...p.baseline!.values]) expect(v).toBeGreaterThanOrEqual(0);
    }
    // Random weights are no pretraining: TF-IDF, not the encoder, learns from 10 texts an intent.
    const all = curve.points.at(-1)!;
    expect(all.baseline!.mean).toBeGreaterThan(all.embedding.mean);

    const list = JSON.parse(new TextDecoder().decode(await runtime.registry.file('bank', encoderVersion.version, 'misclassified.json'))) as MisclassifiedList;
    expect(list.total).toBeGreaterThan(0);
    expect(list.items).toHaveLength(list.total);
    for (const item of list.items) {
      expect(INTENTS).toContain(item.trueLabel);
      expect(item.predictedLabel).not.toBe(item.trueLabel);
    }
    expect(encoderVersion.files.report).toBe('report.html');
    const html = new TextDecoder().decode(await runtime.registry.file('bank', encoderVersion.version, 'report.html'));
    expect(html).toContain(encoderCurveSeries(ENCODER));
    expect(html).toContain(TEXT_CURVE_SERIES);
    // The report lists mistakes by their text, where an image version shows thumbnails.
    const wrong = await Promise.all(list.items.map(async (item) => new TextDecoder().decode(await runtime.store.get(item.key))));
    expect(wrong.some((text) => text.length > 0 && html.includes(escapeHtml(text.slice(0, 30))))).toBe(true);
  });

  it('predicts and evaluates with the encoder version (TextPredictor, eval on a CSV, POST /predict)', async () => {
    const predictor = await runtime.textPredictor();
    const results = await predictor.predict('bank', ['my card has still not arrived', '   ', 'the top up did not go through']);
    expect(results[1]).toBeInstanceOf(InvalidTextError);
    for (const r of [results[0], results[2]] as Prediction[]) {
      expect(r.model).toBe(encoderVersion.version);
      expect(INTENTS).toContain(r.label);
      expect(r.top).toHaveLength(5);
      expect(r.top.reduce((a, t) => a + t.probability, 0)).toBeLessThanOrEqual(1 + 1e-5);
      expect(typeof r.outOfDomain).toBe('boolean');
      expect(r.oodScore).toBeGreaterThanOrEqual(0);
    }

    const evaluated = await evaluateTable(runtime, 'bank', path.join(work, 'test.csv'), { label: 'category' });
    expect(evaluated).toMatchObject({ n: 40, model: encoderVersion.version, failed: [] });
    expect(evaluated.labels).toEqual(INTENTS);

    const response = await route({ method: 'POST', path: '/datasets/bank/predict', headers: { 'content-type': 'text/plain' }, body: new TextEncoder().encode('where is my new card') }, runtime.apiContext());
    expect(response.status).toBe(200);
    expect(JSON.parse(String(response.body))).toMatchObject({ model: encoderVersion.version, label: expect.any(String), outOfDomain: expect.any(Boolean), oodScore: expect.any(Number) });
  }, 60_000);

  it('through the CLI: predict --text answers with the encoder version, assess compares the encoder with TF-IDF', async () => {
    const cli = { home, cwd: work };
    const predicted = await runCli(['predict', 'bank', '--text', 'my card has not arrived yet', '--json'], cli);
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(JSON.parse(predicted.stdout)).toMatchObject({ model: encoderVersion.version, label: expect.any(String), outOfDomain: expect.any(Boolean), oodScore: expect.any(Number) });
    const assessed = await runCli(['assess', 'bank', '--json'], cli);
    expect(assessed.code, assessed.stderr).toBe(0);
    // The same sample, folds and seed as the training's assessment: the same numbers.
    expect(JSON.parse(assessed.stdout)).toMatchObject({ baseline: 'tfidf', n: 120, verdict: encoderVersion.assessment!.verdict, gain: encoderVersion.assessment!.gain, baselineAccuracy: encoderVersion.assessment!.baselineAccuracy });
  }, 120_000);

  it('answers 409 naming the encoder and how to install it on a server without it', async () => {
    const bare = new TextPredictor(runtime.store, { location: { backbonesDir: path.join(work, 'no-backbones') } });
    try {
      const failure = await bare.predict('bank', ['where is my card']).then(() => undefined, (e: unknown) => e);
      expect(failure).toBeInstanceOf(BackboneMismatchError);
      expect((failure as BackboneMismatchError).status).toBe(409);
      expect((failure as Error).message).toContain(`text encoder "${ENCODER}"`);
      expect((failure as Error).message).toContain(`headstart backbone add <model.onnx> --text --tokenizer <tokenizer.json> --name ${ENCODER}`);
    } finally {
      await bare.release();
    }
  });

  it('--backbone tfidf trains the TF-IDF baseline', async () => {
    const m = await runtime.train('bank', { backbone: 'tfidf' });
    expect(m.text).toMatchObject({ representation: 'tfidf', choice: expect.stringContaining('--backbone tfidf') });
    expect(m.backbone.name).toBe('tfidf');
    const [p] = (await (await runtime.textPredictor()).predict('bank', ['my card has not arrived'])) as Prediction[];
    expect(p!.model).toBe(m.version);
  }, 120_000);

  it('--backbone auto measures the encoder against TF-IDF and trains TF-IDF, saying why with both numbers', async () => {
    const m = await runtime.train('bank', { backbone: 'auto' });
    expect(m.text?.representation).toBe('tfidf');
    const reason = m.text!.choice;
    const numbers = /TF-IDF (0\.\d{3}|1\.000) vs tiny-random (0\.\d{3}) balanced accuracy/.exec(reason);
    expect(numbers, reason).not.toBeNull();
    const [tfidf, encoder] = [Number(numbers![1]), Number(numbers![2])];
    expect(tfidf).toBeGreaterThan(encoder);
    expect(reason).toMatch(/pretraining does not help here, it hurts \(-\d+\.\d points\), trained on TF-IDF$/);
    // The same comparison, in the shape image versions keep it (assess, report and console read it).
    expect(m.assessment).toMatchObject({ baseline: 'tfidf', chosen: encoderId, verdict: 'does not help', n: 120 });
    expect(m.assessment!.baselineAccuracy).toBeGreaterThan(m.assessment!.backbones[0]!.probeAccuracy);
    expect(m.assessment!.gain).toBeCloseTo(encoder - tfidf, 2);
  }, 180_000);

  it('the Batch job trains with the same policy, the encoder the stack configures being the default', async () => {
    // As on AWS: the shipped encoder is a catalogue one in HEADSTART_MODELS, named by TEXT_BACKBONE; no registered ones.
    const job = await runTrainJob({
      store: runtime.store,
      index: runtime.index,
      backbone: await runtime.backbone(),
      dataset: 'bank',
      jobId: 'batch-text-1',
      device: 'cpu',
      textEncoders: { location: { modelsDir: modelsDir() }, defaultName: 'tiny-bert-random' },
    });
    expect(job, job.error).toMatchObject({ status: 'succeeded', version: expect.any(String) });
    const m = await runtime.registry.manifest('bank', job.version!);
    expect(m.text?.representation).toBe('encoder');
    expect(m.backbone.name).toBe('tiny-bert-random');
    expect(m.data.images).toBe(120);
  }, 120_000);

  it('refuses an image backbone named for a text dataset, saying what --backbone takes there', async () => {
    await expect(runtime.train('bank', { backbone: 'mobilenetv2-12-fp32-embed' })).rejects.toThrow(/dataset "bank" holds texts, so --backbone takes a text encoder, "tfidf" or "auto": unknown text backbone "mobilenetv2-12-fp32-embed"; known: .*tiny-random/);
  });

  it('embeds the texts the cache lacks with the named encoder before training on it', async () => {
    const cache = new EmbeddingCache(runtime.store);
    const shas: string[] = [];
    for await (const e of runtime.index.entries('early', { state: 'embedded' })) shas.push(e.sha256!);
    expect((await cache.getMany(encoderId, shas)).every((v) => v === undefined)).toBe(true);
    const m = await runtime.train('early', { backbone: ENCODER, assess: false });
    expect(m.text?.representation).toBe('encoder');
    expect(m.data.images).toBe(12);
    expect(m.data.excluded).toEqual([]);
    expect((await cache.getMany(encoderId, shas)).every((v) => v?.length === 32)).toBe(true);
  }, 120_000);
});
