/**
 * Mean cosine distance from each query row to its k nearest reference rows, as one onnxruntime
 * graph (a float32 matrix product, multi-threaded, then TopK): what out-of-domain calibration
 * computes for every training row against thousands of reference rows. Queries go through in
 * chunks so the [chunk, reference] similarity matrix stays small.
 *
 * Rows must be L2-normalised already (cosine similarity = dot product).
 */
import { OnnxSession, float32, int64 } from '../backend/onnx.js';
import { GraphWriter } from '../head/GraphWriter.js';
import { buildModel, DEFAULT_OPSET, valueInfo } from '../onnx/graph.js';

const IO = { queries: 'queries', reference: 'reference', k: 'k', scores: 'scores' } as const;
/** Query rows per run: 2048 x 2000 similarities = 16 MB. */
const CHUNK_ROWS = 2048;

function buildKnnGraph(dim: number): Uint8Array {
  const w = new GraphWriter();
  const similarity = w.op('Gemm', [IO.queries, IO.reference], { transB: 1 });
  const top = `${IO.scores}_top`;
  w.nodes.push({ opType: 'TopK', input: [similarity, IO.k], output: [top, `${top}_indices`], name: 'TopK_nearest', attribute: [{ name: 'axis', type: 2, i: 1 }, { name: 'largest', type: 2, i: 1 }] });
  const mean = w.op('ReduceMean', [top], { axes: [1], keepdims: 0 });
  w.op('Sub', [w.scalar('float32', 1), mean], {}, IO.scores);
  return buildModel({
    name: 'headstart_knn_scores',
    nodes: w.nodes,
    initializers: w.initializers,
    inputs: [valueInfo(IO.queries, 'float32', ['Q', dim]), valueInfo(IO.reference, 'float32', ['R', dim]), valueInfo(IO.k, 'int64', [1])],
    outputs: [valueInfo(IO.scores, 'float32', ['Q'])],
    opset: DEFAULT_OPSET,
  });
}

/** Scores of `queryRows` rows of `queries` against `referenceRows` rows (k capped at the reference size). */
export async function knnScoresOnnx(queries: Float32Array, queryRows: number, reference: Float32Array, referenceRows: number, dim: number, k: number): Promise<Float64Array> {
  const scores = new Float64Array(queryRows);
  if (queryRows === 0) return scores;
  if (referenceRows === 0) return scores.fill(Number.NaN);
  const session = await OnnxSession.create(buildKnnGraph(dim));
  try {
    const kTensor = int64(BigInt64Array.of(BigInt(Math.min(k, referenceRows))), [1]);
    const ref = float32(reference.subarray(0, referenceRows * dim), [referenceRows, dim]);
    for (let start = 0; start < queryRows; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, queryRows - start);
      const out = await session.run({ [IO.queries]: float32(queries.subarray(start * dim, (start + rows) * dim), [rows, dim]), [IO.reference]: ref, [IO.k]: kTensor });
      scores.set(out[IO.scores]?.data as Float32Array, start);
    }
  } finally {
    await session.release();
  }
  return scores;
}
