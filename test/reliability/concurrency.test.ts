/**
 * Many processes on one HEADSTART_HOME (issue: data plane). A `serve` and three `upload`s at once,
 * with `status` polling throughout; then trainings racing (one runs, the others get 409), promotes
 * racing (no history entry lost), and a train process killed mid-run (its job shows as failed).
 * Every process is the real CLI in its own child process, sharing one SQLite file and one folder.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localConfig } from '../../src/config.js';
import { LocalRuntime } from '../../src/local/LocalRuntime.js';
import { freePort } from '../helpers/freePort.js';
import { hymenoptera, OutcomeTable, rawRequest, runCli, spawnCli, waitFor, writeLabelledFolder, type SharedImage } from '../helpers/reliability.js';

const DATASET = 'swarm';
const table = new OutcomeTable('Many processes on one home', 'concurrency.md', 'Each row is one scenario run with real CLI processes on one HEADSTART_HOME.');

describe('a serve, three uploads and a polling status on one home', () => {
  let sandbox: string;
  let home: string;
  let base: string;
  let serve: ReturnType<typeof spawnCli>;
  const versions: string[] = [];

  beforeAll(async () => {
    sandbox = await mkdtemp(path.join(tmpdir(), 'hs-concurrency-'));
    home = path.join(sandbox, 'home');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    serve = spawnCli(['serve', '--port', String(port)], { home, cwd: sandbox });
    await waitFor('serve to answer', async () => (await rawRequest(base, 'GET', '/health').catch(() => undefined))?.status === 200, 60_000, 100);
  });
  afterAll(async () => {
    serve?.child.kill('SIGTERM');
    await serve?.exited;
    await table.write();
    await rm(sandbox, { recursive: true, force: true });
  });

  it('embeds every image once, counts exactly, loses no message, and status answers throughout', async () => {
    const part = async (skip: number): Promise<Record<string, SharedImage[]>> => ({ ants: await hymenoptera('train', 'ants', 8, skip), bees: await hymenoptera('train', 'bees', 8, skip) });
    const parts = [await part(0), await part(8), await part(16)];
    // The same bytes under a second name in another upload: one more key, no new content.
    const copy = parts[0]!.ants![0]!;
    parts[2]!.ants!.push({ name: `copy-of-${copy.name}`, bytes: copy.bytes });
    const folders = await Promise.all(
      parts.map(async (labels, i) => {
        const folder = path.join(sandbox, `upload-${i}`);
        await writeLabelledFolder(folder, labels);
        return folder;
      }),
    );
    const keys = 3 * 16 + 1;

    const polls: Array<{ images: number; pending: number }> = [];
    let uploading = true;
    const poller = (async () => {
      while (uploading) {
        const r = await runCli(['status', DATASET, '--json'], { home, cwd: sandbox });
        // Before the first object is extracted the dataset may not exist yet: a clean 404-like exit.
        if (r.code === 0) polls.push(JSON.parse(r.stdout) as { images: number; pending: number });
        else expect(r.stderr).toMatch(/does not exist/);
      }
    })();
    const uploads = await Promise.all(folders.map((folder) => runCli(['upload', folder, '--dataset', DATASET, '--json'], { home, cwd: sandbox })));
    uploading = false;
    await poller;

    for (const u of uploads) expect(u.code, u.stderr).toBe(0);
    const summaries = uploads.map((u) => JSON.parse(u.stdout) as { uploaded: number; embedded: number; skipped: number; failed: unknown[] });
    const status = JSON.parse((await runCli(['status', DATASET, '--json'], { home, cwd: sandbox })).stdout) as { labels: Record<string, number>; images: number; pending: number; failures: unknown[] };
    const db = new Database(path.join(home, 'headstart.db'), { readonly: true });
    const messages = (db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
    const entries = (db.prepare('SELECT COUNT(*) AS n FROM entries WHERE dataset = ?').get(DATASET) as { n: number }).n;
    db.close();
    const backboneDirs = await readdir(path.join(home, 'bucket', 'embeddings'));
    const vectors = (await Promise.all(backboneDirs.map((d) => readdir(path.join(home, 'bucket', 'embeddings', d))))).flat().length;
    const monotonic = polls.every((p, i) => i === 0 || p.images >= (polls[i - 1] as { images: number }).images);

    const row = table.record({
      area: 'uploads',
      input: `serve + 3 concurrent uploads (${keys} keys, ${keys - 1} distinct images) + status polling`,
      expected: `${keys} entries, ${keys - 1} cached vectors, ants 25 / bees 24, 0 pending, 0 messages left, status answered and never went backwards`,
      observed: `${entries} entries, ${vectors} cached vectors, ants ${status.labels['ants']} / bees ${status.labels['bees']}, ${status.pending} pending, ${messages} messages left, status ${polls.length > 0 && monotonic ? 'answered and never went backwards' : `polls ${JSON.stringify(polls.map((p) => p.images))}`}`,
      detail: `${polls.length} status polls during the uploads; upload summaries ${JSON.stringify(summaries.map((s) => ({ uploaded: s.uploaded, embedded: s.embedded, skipped: s.skipped, failed: s.failed.length })))}`,
    });
    expect(row.observed).toBe(row.expected);
    expect(status.failures).toEqual([]);
    expect(summaries.reduce((n, s) => n + s.uploaded, 0)).toBe(keys);
    expect(summaries.every((s) => s.failed.length === 0)).toBe(true);
  });

  it('runs one training of a dataset at a time: racing requests and a CLI train get 409 naming the running job', async () => {
    const [first, second] = await Promise.all([rawRequest(base, 'POST', `/datasets/${DATASET}/train`), rawRequest(base, 'POST', `/datasets/${DATASET}/train`)]);
    const answers = [first, second].map((r) => r.status).sort();
    const accepted = ([first, second].find((r) => r.status === 202)?.json ?? {}) as { jobId?: string };
    const refused = ([first, second].find((r) => r.status === 409)?.json ?? {}) as { code?: string; jobId?: string };
    const cli = await runCli(['train', DATASET], { home, cwd: sandbox });
    let job: { status?: string; version?: string } = {};
    await waitFor('the accepted job to finish', async () => {
      job = (await rawRequest(base, 'GET', `/jobs/${accepted.jobId}`)).json as typeof job;
      return job.status === 'succeeded' || job.status === 'failed';
    }, 300_000, 250);
    const row = table.record({
      area: 'training',
      input: 'two POST /train at once, and a CLI `train` while the job runs',
      expected: '202 + 409 naming the job; the CLI exits 1 naming it; the job succeeds',
      observed: `${answers.join(' + ')}${refused.jobId === accepted.jobId ? ' naming the job' : ` naming ${refused.jobId}`}; the CLI exits ${cli.code}${cli.stderr.includes(accepted.jobId ?? '?') ? ' naming it' : `: ${cli.stderr.trim()}`}; the job ${job.status === 'succeeded' ? 'succeeds' : job.status}`,
    });
    expect(row.observed).toBe(row.expected);
    expect(refused.code).toBe('training_in_progress');
    versions.push(job.version as string);
  });

  it('keeps every history entry when promotes from two processes race', async () => {
    for (let i = 0; i < 2; i++) {
      const trained = await runCli(['train', DATASET, '--json'], { home, cwd: sandbox });
      expect(trained.code, trained.stderr).toBe(0);
      versions.push((JSON.parse(trained.stdout) as { version: string }).version);
    }
    const [v1, v2, v3] = versions as [string, string, string];
    // v3 is current; v1 and v2 are promoted at the same moment by two processes.
    const promotes = await Promise.all([runCli(['promote', DATASET, v1], { home, cwd: sandbox }), runCli(['promote', DATASET, v2], { home, cwd: sandbox })]);
    const models = (await rawRequest(base, 'GET', `/datasets/${DATASET}/models`)).json as { current: string };
    const pointer = JSON.parse(await readFile(path.join(home, 'bucket', 'models', DATASET, 'current.json'), 'utf8')) as { version: string; history: string[] };
    const seen = new Set([...pointer.history, pointer.version]);
    const row = table.record({
      area: 'versions',
      input: 'two `promote` processes at once (v1 and v2, while v3 is current)',
      expected: 'both exit 0; v1, v2 and v3 all in current + history',
      observed: `${promotes.every((p) => p.code === 0) ? 'both exit 0' : `exits ${promotes.map((p) => p.code).join(', ')}`}; ${[v1, v2, v3].every((v) => seen.has(v)) ? 'v1, v2 and v3 all in current + history' : `history ${JSON.stringify(pointer)}`}`,
    });
    expect(row.observed).toBe(row.expected);
    expect([v1, v2]).toContain(models.current);
    expect(pointer.history.slice(-2)).toEqual([v3, v1 === pointer.version ? v2 : v1]);
  });

  it('shows a train job whose process was killed as failed, at the next start', async () => {
    const train = spawnCli(['train', DATASET], { home, cwd: sandbox });
    const runningJob = (): { id: string } | undefined => {
      const db = new Database(path.join(home, 'headstart.db'), { readonly: true });
      try {
        return db.prepare(`SELECT id FROM jobs WHERE dataset = ? AND status = 'running'`).get(DATASET) as { id: string } | undefined;
      } finally {
        db.close();
      }
    };
    await waitFor('the CLI train to hold its job', () => runningJob() !== undefined, 60_000, 20);
    const id = (runningJob() as { id: string }).id;
    train.child.kill('SIGKILL');
    await train.exited;
    const runtime = await LocalRuntime.open({ ...localConfig({}), home });
    const job = await runtime.jobs.get(id);
    await runtime.close();
    // And the dataset can be trained again at once.
    const again = await rawRequest(base, 'POST', `/datasets/${DATASET}/train`);
    const row = table.record({
      area: 'training',
      input: 'SIGKILL a `headstart train` while it runs',
      expected: 'its job is failed at the next start, naming the dead process; the dataset trains again (202)',
      observed: `its job is ${job?.status}${job?.error?.includes('ended before the job finished') ? ' at the next start, naming the dead process' : `: ${job?.error}`}; the dataset trains again (${again.status})`,
    });
    expect(row.observed).toBe(row.expected);
    const next = again.json as { jobId: string };
    await waitFor('the retrain to finish', async () => ['succeeded', 'failed'].includes((await rawRequest(base, 'GET', `/jobs/${next.jobId}`)).json['status'] as string), 300_000, 250);
  });
});
