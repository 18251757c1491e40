/**
 * `npm start`: the whole job on one machine, on a small labelled set: upload the train split,
 * train a head, evaluate on the test split, predict a few images, print the figures. When the
 * backbone file is missing it runs `npm run fetch-models` first (the only step that needs the
 * network), so `npm install && npm start` is enough on a machine with internet.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BackboneMissingError } from '../../errors.js';
import { localConfig } from '../../config.js';
import { expandPaths } from '../../local/labelledFolder.js';
import { LocalRuntime } from '../../local/LocalRuntime.js';
import { percent, printLine } from '../output.js';
import { upload } from './upload.js';
import { evaluate } from './eval.js';
import { predictFiles } from './predict.js';
import { printMetrics } from './train.js';
import { packageRoot } from '../../util/packageRoot.js';

const repoRoot = packageRoot(import.meta.url);
const SAMPLE = path.join(repoRoot, 'examples', 'fashion-mnist');
const DATASET = 'fashion-mnist-demo';

async function openWithBackbone(): Promise<LocalRuntime> {
  const runtime = await LocalRuntime.open(localConfig(), { consume: true });
  try {
    await runtime.backbone();
    return runtime;
  } catch (error) {
    await runtime.close().catch(() => undefined);
    if (!(error instanceof BackboneMissingError)) throw error;
    printLine(`${error.message}\nfetching it now (npm run fetch-models)...`);
    const fetched = spawnSync('npm', ['run', '--silent', 'fetch-models'], { cwd: repoRoot, stdio: 'inherit' });
    if (fetched.status !== 0) throw error;
    const retry = await LocalRuntime.open(localConfig(), { consume: true });
    await retry.backbone();
    return retry;
  }
}

export async function demoCommand(options: { folder?: string }): Promise<void> {
  const folder = path.resolve(options.folder ?? SAMPLE);
  const runtime = await openWithBackbone();
  try {
    const backbone = await runtime.backbone();
    printLine(`headstart demo: state in ${runtime.config.home}, backbone ${backbone.id}`);

    let t = Date.now();
    const uploaded = await upload(runtime, path.join(folder, 'train'), DATASET);
    printLine(`\n1. upload ${path.join(folder, 'train')} -> dataset "${DATASET}" (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    printLine(`   embedded ${uploaded.embedded}, skipped ${uploaded.skipped} (already cached), failed ${uploaded.failed.length}`);

    t = Date.now();
    const manifest = await runtime.train(DATASET);
    printLine(`\n2. train -> ${manifest.version}, ${manifest.head.kind} head, lambda ${manifest.head.lambda} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    printLine(`   validation (out-of-fold, ${manifest.training.folds} folds):`);
    printMetrics(manifest.metrics);

    t = Date.now();
    const result = await evaluate(runtime, DATASET, path.join(folder, 'test'));
    printLine(`\n3. eval on ${path.join(folder, 'test')} (${((Date.now() - t) / 1000).toFixed(1)} s): accuracy ${percent(result.accuracy)}, macro-F1 ${result.macroF1.toFixed(3)}, n ${result.n}`);

    printLine('\n4. predict:');
    const samples = (await expandPaths([path.join(folder, 'test')])).filter((_, i) => i % 37 === 0).slice(0, 3);
    await predictFiles(
      runtime,
      DATASET,
      samples,
      (r) => printLine(`   ${path.relative(folder, r.file)} -> ${r.label} (${percent(r.probability)})`),
      (file, message) => printLine(`   ${file}: ${message}`),
    );
    printLine(`\nnext: npx headstart serve, then curl -X POST --data-binary @<image> -H 'content-type: image/png' http://127.0.0.1:8080/datasets/${DATASET}/predict`);
  } finally {
    await runtime.close();
  }
}
