/**
 * float32 vs float64 training arithmetic on the shared sets' real embeddings: the chosen lambda and
 * the cross-validated (out-of-fold) and held-out accuracy of trainHead's default linear head with
 * each dtype, on the same rows, folds and grid. The evidence behind trainHead.DEFAULT_DTYPE.
 *
 *   npx tsx bench/dtype.ts [--datasets hymenoptera,fashion_mnist,chest_xray]
 *
 * Embeddings are cached under .bench/embeddings (bench/embeddingCache.ts), shared with bench/accuracy.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backbone } from '../src/backbone/Backbone.js';
import { predictHead } from '../src/training/predictHead.js';
import { trainHead } from '../src/training/trainHead.js';
import { modelsDir, sharedDir } from '../test/helpers/shared.js';
import { datasetClasses, embedSplit } from './embeddingCache.js';

const SPLITS: Record<string, [string, string]> = { hymenoptera: ['train', 'val'], fashion_mnist: ['train', 'test'], chest_xray: ['train', 'test'] };
const i = process.argv.indexOf('--datasets');
const datasets = i >= 0 ? (process.argv[i + 1] as string).split(',') : Object.keys(SPLITS);
const cacheDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.bench', 'embeddings');
const backbone = await Backbone.load(undefined, { modelsDir: modelsDir() });
try {
  for (const dataset of datasets) {
    const [trainSplit, testSplit] = SPLITS[dataset] as [string, string];
    const root = path.join(sharedDir(), 'datasets');
    const classNames = await datasetClasses(path.join(root, dataset), trainSplit);
    const train = await embedSplit(backbone, root, cacheDir, dataset, trainSplit, classNames);
    const test = await embedSplit(backbone, root, cacheDir, dataset, testSplit, classNames);
    const data = { embeddings: train.embeddings, dims: train.meta.dims, labels: train.labels, classNames };
    const row: Record<string, unknown> = { dataset, n: train.meta.dims[0] };
    for (const dtype of ['float64', 'float32'] as const) {
      const head = await trainHead(data, { dtype, seed: 0 });
      const p = await predictHead(head, test.embeddings, test.meta.dims[0]);
      const k = classNames.length;
      let correct = 0;
      test.labels.forEach((y, r) => {
        let best = 0;
        for (let c = 1; c < k; c++) if ((p[r * k + c] as number) > (p[r * k + best] as number)) best = c;
        if (best === y) correct++;
      });
      row[dtype] = { lambda: head.lambda, cvAccuracy: head.metrics.accuracy, testAccuracy: correct / test.labels.length, seconds: Number((head.timings.totalMs / 1000).toFixed(1)) };
    }
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
} finally {
  await backbone.release();
}
