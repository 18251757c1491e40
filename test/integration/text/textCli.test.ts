/**
 * Texts through the CLI as a user runs it (`bin/headstart.js` in a child process, state in a
 * temporary HEADSTART_HOME): upload a CSV with bad rows, re-upload, train (the TF-IDF baseline, as
 * no pretrained text encoder is installed here), predict --text and stdin, eval a CSV, a mixed
 * dataset refused by name; then the HTTP predict route with text/plain, JSON {"text"} and an image.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../../src/api/router.js';
import { localConfig } from '../../../src/config.js';
import { LocalRuntime } from '../../../src/local/LocalRuntime.js';
import { datasetsDir, imagesDir, modelsDir, repoDir } from '../../helpers/shared.js';

const run = promisify(execFile);
let home: string;
let work: string;

async function headstart(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, HEADSTART_HOME: home, HEADSTART_MODELS: modelsDir() };
  if (input === undefined) {
    try {
      const { stdout, stderr } = await run(process.execPath, [path.join(repoDir(), 'bin', 'headstart.js'), ...args], { cwd: work, env, maxBuffer: 32 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoDir(), 'bin', 'headstart.js'), ...args], { cwd: work, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

const csvCell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'headstart-text-home-'));
  work = await mkdtemp(path.join(tmpdir(), 'headstart-text-work-'));
  const rows = parse(await readFile(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
  const wanted = ['card_arrival', 'top_up_failed', 'lost_or_stolen_card'];
  const per = new Map<string, number>();
  const train: string[] = [];
  const test: string[] = [];
  for (const r of rows) {
    if (!wanted.includes(r.category)) continue;
    const n = per.get(r.category) ?? 0;
    per.set(r.category, n + 1);
    if (n < 25) train.push(`${csvCell(r.text)},${r.category}`);
    else if (n < 35) test.push(`${csvCell(r.text)},${r.category}`);
  }
  // Lines 2..76 are good rows; then an empty text, a bad label and a row without its label column.
  await writeFile(path.join(work, 'train.csv'), `text,category\n${train.join('\n')}\n,card_arrival\nfine text,../up\nno label here\n`);
  await writeFile(path.join(work, 'test.csv'), `text,category\n${test.join('\n')}\n`);
}, 60_000);

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('texts through the CLI', () => {
  it('uploads a CSV, one object per row, and lists bad rows with their line numbers', async () => {
    const r = await headstart(['upload', 'train.csv', '--dataset', 'bank', '--label-column', 'category', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { uploaded: number; embedded: number; badRows: Array<{ line: number; reason: string }> };
    expect(summary.uploaded).toBe(75);
    expect(summary.embedded).toBe(75);
    expect(summary.badRows.map((b) => b.line)).toEqual([77, 78, 79]);
    expect(summary.badRows.map((b) => b.reason).join(' | ')).toMatch(/empty.*not a valid label.*missing column "category"/);
    const again = JSON.parse((await headstart(['upload', 'train.csv', '--dataset', 'bank', '--label-column', 'category', '--json'])).stdout) as { uploaded: number; embedded: number; skipped: number };
    expect(again).toMatchObject({ uploaded: 75, embedded: 0, skipped: 75 });
  }, 120_000);

  it('trains the TF-IDF baseline and says that no pretrained encoder is installed and how to get one', async () => {
    const r = await headstart(['train', 'bank']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tfidf@[0-9a-f]{16}/);
    expect(r.stdout).toMatch(/no pretrained text encoder is installed/);
    expect(r.stdout).toMatch(/npm run fetch-models -- minilm-l6-v2/);
  }, 120_000);

  it('predicts --text (repeatable) and stdin lines with the same JSON fields as images', async () => {
    const r = await headstart(['predict', 'bank', '--text', 'my new card still has not arrived', '--text', 'the top up did not go through', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['label'])).toEqual(['card_arrival', 'top_up_failed']);
    for (const l of lines) expect(Object.keys(l)).toEqual(expect.arrayContaining(['label', 'probability', 'top', 'model', 'outOfDomain', 'oodScore']));
    const piped = await headstart(['predict', 'bank', '--text', '-', '--json'], 'i lost my card\n\nwhere is my card\n');
    expect(piped.stdout.trim().split('\n')).toHaveLength(2);
    const empty = await headstart(['predict', 'bank', '--text', '   ']);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/only whitespace/);
  }, 60_000);

  it('evaluates a CSV with the image eval JSON', async () => {
    const r = await headstart(['eval', 'bank', 'test.csv', '--label-column', 'category', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { accuracy: number; n: number; labels: string[]; confusion: number[][] };
    expect(result.n).toBe(30);
    expect(result.accuracy).toBeGreaterThan(0.8);
    expect(result.labels).toEqual(['card_arrival', 'lost_or_stolen_card', 'top_up_failed']);
  }, 60_000);

  it('refuses texts into an image dataset, naming it', async () => {
    const runtime = await LocalRuntime.open({ ...localConfig({ ...process.env, HEADSTART_HOME: home }) }, { consume: true });
    try {
      await runtime.store.put('datasets/mixed/a/one.txt', new TextEncoder().encode('hello there'));
      await runtime.store.put('datasets/mixed/b/two.txt', new TextEncoder().encode('bye now'));
      await runtime.store.put('datasets/mixed/a/ant.jpg', await readFile(path.join(imagesDir(), (await import('node:fs')).readdirSync(imagesDir()).find((f) => f.endsWith('.jpg'))!)));
      await runtime.drain();
      await expect(runtime.train('mixed')).rejects.toThrow(/dataset "mixed" mixes images \(1\) and texts \(2\)/);
    } finally {
      await runtime.close();
    }
  }, 120_000);

  it('answers POST /datasets/{name}/predict with text/plain and JSON {"text"}, and 415 for an image', async () => {
    const runtime = await LocalRuntime.open(localConfig({ ...process.env, HEADSTART_HOME: home }));
    try {
      const context = runtime.apiContext();
      const post = (contentType: string, body: Uint8Array) => route({ method: 'POST', path: '/datasets/bank/predict', headers: { 'content-type': contentType }, body }, context);
      const plain = await post('text/plain; charset=utf-8', new TextEncoder().encode('my card has not arrived'));
      expect(plain.status).toBe(200);
      expect(JSON.parse(String(plain.body))).toMatchObject({ label: 'card_arrival', outOfDomain: expect.any(Boolean), oodScore: expect.any(Number) });
      const viaJson = await post('application/json', new TextEncoder().encode(JSON.stringify({ text: 'top up failed again' })));
      expect(JSON.parse(String(viaJson.body)).label).toBe('top_up_failed');
      const blank = await post('text/plain', new TextEncoder().encode('  '));
      expect(blank.status).toBe(400);
      expect(JSON.parse(String(blank.body)).code).toBe('empty_text');
      const image = await post('image/jpeg', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
      expect(image.status).toBe(415);
      expect(JSON.parse(String(image.body)).code).toBe('modality_mismatch');
    } finally {
      await runtime.close();
    }
  }, 60_000);
});
