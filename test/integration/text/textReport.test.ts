/**
 * A text version's report and learning curve through the local runtime and the HTTP routes: real
 * banking77 texts stored as `.txt` objects (one planted under the wrong label, with markup in it),
 * extracted and trained as a user's would be (TF-IDF: no text encoder is installed here), then
 * GET /datasets/{name}/report serves report.html with the misclassified texts escaped, and
 * GET /datasets/{name}/misclassified lists them with their text in place of a thumbnail.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../../src/api/router.js';
import { localConfig } from '../../../src/config.js';
import { LocalRuntime } from '../../../src/local/LocalRuntime.js';
import type { ModelManifest } from '../../../src/registry/ModelManifest.js';
import { datasetsDir, modelsDir } from '../../helpers/shared.js';

const PLANTED = '<script>alert("x")</script> I still have not received my new card, it has been two weeks';
const INTENTS = ['card_arrival', 'exchange_rate', 'top_up_failed'];
const PER_INTENT = 12;

let home: string;
let runtime: LocalRuntime;
let manifest: ModelManifest;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'headstart-text-report-'));
  runtime = await LocalRuntime.open(localConfig({ ...process.env, HEADSTART_HOME: home, HEADSTART_MODELS: modelsDir() }), { consume: true });
  const rows = parse(await readFile(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
  const per = new Map<string, number>();
  for (const r of rows) {
    const n = per.get(r.category) ?? 0;
    if (!INTENTS.includes(r.category) || n >= PER_INTENT) continue;
    per.set(r.category, n + 1);
    await runtime.store.put(`datasets/bank/${r.category}/t${n}.txt`, new TextEncoder().encode(r.text));
  }
  // A card-arrival inquiry filed under top_up_failed: the model should call it card_arrival.
  await runtime.store.put('datasets/bank/top_up_failed/planted.txt', new TextEncoder().encode(PLANTED));
  await runtime.drain();
  manifest = await runtime.train('bank');
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(home, { recursive: true, force: true });
});

describe('a trained text version', () => {
  it('keeps its learning curve (TF-IDF + head, held-out texts) and a report file in model.json', () => {
    expect(manifest.modality).toBe('text');
    expect(manifest.files.report).toBe('report.html');
    const curve = manifest.learningCurve!;
    expect(curve.series?.embedding).toMatch(/TF-IDF/);
    // 12 or 13 texts an intent: 4 held out, a pool of 8 or 9; k = 1, 2, 5 and all.
    expect(curve.points.map((p) => p.k)).toEqual([1, 2, 5, 'all']);
    expect(curve.heldOut).toBe(12);
    for (const p of curve.points) expect(p.embedding.values).toHaveLength(3);
  });

  it('serves report.html on GET /datasets/{name}/report, with the misclassified texts escaped', async () => {
    const r = await route({ method: 'GET', path: '/datasets/bank/report', headers: {}, body: new Uint8Array() }, runtime.apiContext());
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    const html = String(r.body);
    expect(html).toContain('<h2>Misclassified validation texts</h2>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; I still have not received my new card');
    expect(html).not.toContain('<script');
    expect(html).toContain('<section id="learning-curve">');
    expect(html).toContain('TF-IDF n-grams fitted on the training texts');
    expect(html).toContain('1 − the largest class probability');
    expect(html).not.toContain('<img ');
  });

  it('lists its mistakes with their text on GET /datasets/{name}/misclassified', async () => {
    const r = await route({ method: 'GET', path: '/datasets/bank/misclassified', headers: {}, body: new Uint8Array() }, runtime.apiContext());
    expect(r.status).toBe(200);
    const body = JSON.parse(String(r.body)) as { total: number; items: Array<{ key: string; text?: string | null; thumbnail: string | null; predictedLabel: string; exists: boolean }> };
    const planted = body.items.find((i) => i.key === 'datasets/bank/top_up_failed/planted.txt');
    expect(planted).toMatchObject({ text: PLANTED, thumbnail: null, predictedLabel: 'card_arrival', exists: true });
    expect(body.total).toBe(body.items.length);
    for (const item of body.items) expect(typeof item.text).toBe('string');
  });
});
