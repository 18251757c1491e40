/**
 * The only module that imports onnxruntime-node. Everything else sees {@link Tensor} and
 * {@link OnnxSession}, so swapping the runtime (or mocking it) touches one file.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InferenceError } from '../errors.js';

export type TensorType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** A plain tensor: typed data in row-major order plus its dimensions. */
export interface Tensor<D extends TensorData = TensorData> {
  type: TensorType;
  data: D;
  dims: readonly number[];
}

/** Where a session runs. `cuda` falls back to the CPU provider for operators CUDA lacks. */
export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Threads for one operator; onnxruntime's default is one per core. */
  intraOpThreads?: number;
  /**
   * Whether onnxruntime's worker threads spin-wait between operators (its default). Off for a
   * session that shares the cores with other work, such as image decoding overlapped with it:
   * spinning threads would take the CPU that work needs.
   */
  allowSpinning?: boolean;
  /**
   * Bytes of initializers the model stores as external data, by the location it names. The session
   * keeps its own copy (on the device for the CUDA provider), so these can be dropped after create.
   */
  externalData?: ReadonlyArray<{ path: string; data: Uint8Array }>;
}

export function float32(data: Float32Array, dims: readonly number[]): Tensor<Float32Array> {
  return { type: 'float32', data, dims };
}

export function float64(data: Float64Array, dims: readonly number[]): Tensor<Float64Array> {
  return { type: 'float64', data, dims };
}

export function int64(data: BigInt64Array, dims: readonly number[]): Tensor<BigInt64Array> {
  return { type: 'int64', data, dims };
}

function describeFeeds(feeds: Record<string, Tensor>): Record<string, string> {
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, `${t.type}[${t.dims.join(',')}]`]));
}

export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly device: Device,
  ) {}

  /** Opens a model from a file path or its bytes. */
  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<OnnxSession> {
    const device = options.device ?? 'cpu';
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      graphOptimizationLevel: 'all',
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
      // The Node binding takes config entries as flat 'a.b.c' keys with string values.
      ...(options.allowSpinning === false ? { extra: { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' } } : {}),
      ...(options.externalData ? { externalData: options.externalData.map((e) => ({ path: e.path, data: e.data })) } : {}),
    };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new OnnxSession(session, device);
    } catch (error) {
      throw new InferenceError(`could not open ONNX model${typeof model === 'string' ? ` ${model}` : ''}: ${(error as Error).message}`, {
        cause: error,
        context: { device },
      });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the graph. Inputs are wrapped without copying (onnxruntime-node reads the typed array in
   * place), so feeding a large embedding matrix repeatedly costs nothing per call.
   */
  async run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>> {
    const missing = this.session.inputNames.filter((name) => !(name in feeds));
    if (missing.length > 0) {
      throw new InferenceError(`missing inputs ${missing.join(', ')}`, { context: { feeds: describeFeeds(feeds) } });
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    }
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    } catch (error) {
      throw new InferenceError(`onnxruntime run failed: ${(error as Error).message}`, {
        cause: error,
        context: { feeds: describeFeeds(feeds) },
      });
    }
    const out: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) {
      const t = value as ort.Tensor;
      out[name] = { type: t.type as TensorType, data: t.data as TensorData, dims: t.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * True when a CUDA session can actually open here: onnxruntime-node lists 'cuda' as a backend on
 * every linux-x64 install, but the CUDA provider library is only present where it was installed
 * at build time (the GPU container: ONNXRUNTIME_NODE_INSTALL=cuda12), and it needs an NVIDIA driver.
 */
export function cudaAvailable(): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  try {
    const packageDir = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const provider = path.join(packageDir, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so');
    return existsSync(provider) && (existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version'));
  } catch {
    return false;
  }
}

/** The device to run on: CUDA when asked for and usable, else the CPU (the same graphs run on both). */
export function resolveDevice(requested: Device | undefined): Device {
  return requested === 'cuda' && cudaAvailable() ? 'cuda' : 'cpu';
}
