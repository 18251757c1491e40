/**
 * The checks that need a GPU, as one prepared command for when a GPU machine is lent (CI has none):
 *
 *   ONNXRUNTIME_NODE_INSTALL=cuda12 npm install   # once, where the CUDA provider can be fetched
 *   npx tsx scripts/gpu-check.ts [--rows 100000] [--check-rows 10000]
 *
 * 1. The CUDA execution provider loads: a session opened with CUDA alone (no CPU fallback) runs.
 * 2. The data stays on the device between loss evaluations: per-evaluation time of the loss with
 *    the matrix fed on every run (copied host -> device each time) beside the session-resident
 *    matrix (copied once; only weights and parameters per run), and the host RSS each one adds.
 * 3. float32 on the GPU chooses the same lambda with the same accuracy as float32 on the CPU (and
 *    float64 on the GPU), on a seeded synthetic set.
 * Prints one JSON line per check and exits 1 if a check fails.
 */
import * as ort from 'onnxruntime-node';
import { cudaAvailable } from '../src/backend/onnx.js';
import { syntheticSet as trainBenchData } from '../bench/lib/trainBench.js';
import { LossSession, ResidentLossSession } from '../src/training/graphSessions.js';
import { headShape, paramCount } from '../src/training/headLayout.js';
import { balancedWeights, inverseRowNorms } from '../src/training/rows.js';
import { trainHead } from '../src/training/trainHead.js';
import { NORM_EPSILON } from '../src/training/trainingGraphs.js';

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const print = (check: string, figures: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ check, ...figures })}\n`);
const rssMb = (): number => Number((process.memoryUsage().rss / 2 ** 20).toFixed(0));
let failed = false;

// 1. CUDA provider.
const available = cudaAvailable();
let cudaLoads = false;
let loadError: string | undefined;
try {
  const model = (await import('../src/training/trainingGraphs.js')).buildForwardGraph(headShape(4, 2), { dtype: 'float32' });
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cuda'] });
  await session.run({
    X: new ort.Tensor('float32', new Float32Array(8), [2, 4]),
    scale: new ort.Tensor('float32', new Float32Array(2).fill(1), [2]),
    theta: new ort.Tensor('float64', new Float64Array(10), [10]),
  });
  await session.release();
  cudaLoads = true;
} catch (error) {
  loadError = (error as Error).message;
}
print('cuda provider loads', { cudaAvailable: available, cudaLoads, ...(loadError ? { error: loadError } : {}) });
if (!cudaLoads) {
  process.stdout.write('no usable CUDA provider: nothing else to check here\n');
  process.exit(1);
}

// 2. Fed vs resident per-evaluation time and host memory, on a large matrix.
{
  const n = argument('--rows', 100_000);
  const d = 1280;
  const k = 100;
  const { x, y } = trainBenchData(n, d, k, 0);
  const shape = headShape(d, k);
  const scale = inverseRowNorms(x, n, d, NORM_EPSILON, 'float32');
  const labels = BigInt64Array.from(y, (c) => BigInt(c));
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const weights = balancedWeights(y, all, k);
  const theta = new Float64Array(paramCount(shape)).fill(1e-3);
  const time = async (evaluate: () => Promise<unknown>): Promise<number> => {
    await evaluate();
    const started = performance.now();
    for (let i = 0; i < 10; i++) await evaluate();
    return (performance.now() - started) / 10;
  };
  const before = rssMb();
  const fed = await LossSession.create(shape, 'cuda', { dtype: 'float32' });
  fed.bindRows({ x, scale, labels, weights, rows: n });
  const fedMs = await time(() => fed.evaluate(theta, 1e-4));
  const fedF = (await fed.evaluate(theta, 1e-4)).f;
  await fed.release();
  const beforeResident = rssMb();
  const resident = await ResidentLossSession.create(shape, 'cuda', { x, scale, labels, rows: n }, { dtype: 'float32' });
  const residentRss = rssMb() - beforeResident;
  resident.bindWeights(weights);
  const residentMs = await time(() => resident.evaluate(theta, 1e-4));
  const residentF = (await resident.evaluate(theta, 1e-4)).f;
  await resident.release();
  const ok = residentMs < fedMs && Math.abs(residentF - fedF) <= 1e-6 * Math.abs(fedF);
  failed ||= !ok;
  print('data stays on the device', { rows: n, dims: d, classes: k, fedMsPerEvaluation: fedMs, residentMsPerEvaluation: residentMs, residentHostRssMb: residentRss, rssBeforeMb: before, sameLoss: Math.abs(residentF - fedF), ok });
}

// 3. float32 GPU vs CPU: chosen lambda and accuracy.
{
  const n = argument('--check-rows', 10_000);
  const d = 1280;
  const k = 20;
  const { x, y } = trainBenchData(n, d, k, 1);
  const data = { embeddings: x, dims: [n, d] as [number, number], labels: y, classNames: Array.from({ length: k }, (_, c) => `c${c}`) };
  const options = { lambdas: [1e-2, 1e-3, 1e-4, 1e-5], folds: 3, seed: 0 };
  const runs = [];
  for (const [device, dtype] of [['cpu', 'float32'], ['cuda', 'float32'], ['cuda', 'float64']] as const) {
    const head = await trainHead(data, { ...options, device, dtype });
    runs.push({ device: head.settings.device, placement: head.settings.placement, dtype, lambda: head.lambda, accuracy: head.metrics.accuracy, seconds: head.timings.totalMs / 1000 });
  }
  const [cpu, gpu] = runs as [(typeof runs)[number], (typeof runs)[number]];
  const ok = gpu.device === 'cuda' && gpu.lambda === cpu.lambda && Math.abs(gpu.accuracy - cpu.accuracy) <= 0.005;
  failed ||= !ok;
  print('float32 on the GPU matches the CPU', { rows: n, dims: d, classes: k, runs, ok });
}
process.exit(failed ? 1 : 0);
