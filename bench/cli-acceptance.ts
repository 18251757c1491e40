/**
 * The local pipeline's acceptance run, exactly as a user runs it: for each shared dataset,
 * `headstart upload <train> --dataset <name>`, `headstart train <name>`, `headstart eval <name>
 * <test> --json`, in a fresh HEADSTART_HOME, printing test accuracy beside the target.
 *
 *   npx tsx bench/cli-acceptance.ts
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { modelsDir, sharedDir } from '../test/helpers/shared.js';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '..');
const shared = sharedDir();
const env = { ...process.env, HEADSTART_MODELS: modelsDir(), AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1' };

const DATASETS = [
  { name: 'hymenoptera', train: 'train', test: 'val', target: 0.93 },
  { name: 'fashion_mnist', train: 'train', test: 'test', target: 0.83 },
  { name: 'chest_xray', train: 'train', test: 'test', target: 0.8 },
];

async function headstart(home: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(repo, 'bin', 'headstart.js'), ...args], { env: { ...env, HEADSTART_HOME: home }, maxBuffer: 64 << 20 });
  return stdout;
}

const rows: string[] = [];
for (const d of DATASETS) {
  const home = await mkdtemp(path.join(tmpdir(), `hs-accept-${d.name}-`));
  try {
    const dir = path.join(shared, 'datasets', d.name);
    let t = performance.now();
    const uploaded = JSON.parse(await headstart(home, 'upload', path.join(dir, d.train), '--dataset', d.name, '--json')) as { embedded: number; failed: unknown[] };
    const uploadS = (performance.now() - t) / 1000;
    t = performance.now();
    const model = JSON.parse(await headstart(home, 'train', d.name, '--json')) as { accuracy: number; head: { lambda: number } };
    const trainS = (performance.now() - t) / 1000;
    const result = JSON.parse(await headstart(home, 'eval', d.name, path.join(dir, d.test), '--json')) as { accuracy: number; macroF1: number; n: number };
    const pass = result.accuracy >= d.target ? 'yes' : 'NO';
    rows.push(
      `| ${d.name} | ${uploaded.embedded} (${uploaded.failed.length} failed), ${uploadS.toFixed(1)} s | ${model.accuracy.toFixed(3)}, lambda ${model.head.lambda}, ${trainS.toFixed(1)} s | ${d.test} n=${result.n}: **${result.accuracy.toFixed(3)}** (macro-F1 ${result.macroF1.toFixed(3)}) | >= ${d.target} | ${pass} |`,
    );
    console.error(rows.at(-1));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
console.log('| dataset | upload: embedded, time | train: CV accuracy, lambda, time | eval accuracy on the test split | target | met |');
console.log('|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
