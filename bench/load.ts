/**
 * Load on the local prediction server: N prediction requests, C at a time, over loopback only.
 * Prints throughput, latency percentiles, errors and the server's peak resident memory.
 *
 *   npx tsx bench/load.ts [--requests 400] [--concurrency 8] [--max-seconds 120]
 *
 * The server is `headstart serve` in its own process (so its memory is measured alone, from
 * /proc/<pid>/status), on a HEADSTART_HOME prepared here: 12 hymenoptera photos uploaded and a
 * head trained. Requests rotate over 8 validation photos (raw JPEG bodies). Needs ../shared (or
 * HEADSTART_SHARED / HEADSTART_MODELS); no network.
 *
 * {@link runLoad} is also what the reliability suite's smoke test calls, with a small count.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../test/helpers/freePort.js';
import { modelsDir, sharedDir } from '../test/helpers/shared.js';

export interface LoadOptions {
  /** Base URL of the server; only loopback addresses are accepted. */
  url: string;
  dataset: string;
  /** Request bodies, used in turn. */
  images: readonly Uint8Array[];
  contentType?: string;
  /** Total requests (bounded). */
  requests: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Stop issuing new requests after this long (bounded time). Default 120 s. */
  maxMs?: number;
  /** Called about every 100 ms while the load runs (e.g. to sample the server's memory). */
  onTick?: () => void;
}

export interface LoadFigures {
  requests: number;
  ok: number;
  errors: number;
  /** Up to 5 distinct error descriptions. */
  errorSamples: string[];
  /** Responses by model version that computed them. */
  byModel: Record<string, number>;
  durationMs: number;
  throughputPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

function post(agent: http.Agent, url: URL, body: Uint8Array, contentType: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { agent, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, method: 'POST', path: url.pathname, headers: { 'content-type': contentType, 'content-length': String(body.byteLength) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.setTimeout(60_000, () => request.destroy(new Error('no answer within 60 s')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Sends the requests and measures each one; never throws for a failed request (it counts as an error). */
export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const base = new URL(options.url);
  if (!LOOPBACK.has(base.hostname)) throw new Error(`load is only sent to loopback addresses, not ${base.hostname}`);
  if (options.images.length === 0) throw new Error('no images to send');
  if (!(options.requests > 0) || !(options.concurrency > 0)) throw new Error('requests and concurrency must be positive');
  const target = new URL(`/datasets/${encodeURIComponent(options.dataset)}/predict`, base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const maxMs = options.maxMs ?? 120_000;
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  const byModel: Record<string, number> = {};
  let issued = 0;
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  const ticker = options.onTick ? setInterval(options.onTick, 100) : undefined;

  const worker = async (): Promise<void> => {
    while (issued < options.requests && performance.now() - started < maxMs) {
      const n = issued++;
      const body = options.images[n % options.images.length] as Uint8Array;
      const t0 = performance.now();
      try {
        const { status, text } = await post(agent, target, body, options.contentType ?? 'image/jpeg');
        latencies.push(performance.now() - t0);
        const parsed = JSON.parse(text) as { model?: string; error?: string };
        if (status === 200 && typeof parsed.model === 'string') {
          ok++;
          byModel[parsed.model] = (byModel[parsed.model] ?? 0) + 1;
        } else {
          errors++;
          errorSamples.add(`${status} ${parsed.error ?? text.slice(0, 120)}`);
        }
      } catch (error) {
        latencies.push(performance.now() - t0);
        errors++;
        errorSamples.add((error as Error).message);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    if (ticker) clearInterval(ticker);
    agent.destroy();
  }
  const durationMs = performance.now() - started;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests: issued,
    ok,
    errors,
    errorSamples: [...errorSamples].slice(0, 5),
    byModel,
    durationMs,
    throughputPerSecond: (issued / durationMs) * 1000,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? NaN,
  };
}

/** VmRSS and VmHWM (peak) of a process, in MB, from /proc (Linux); undefined elsewhere. */
export async function processMemoryMb(pid: number): Promise<{ rss: number; peak: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(/^(\S+):\s+(\d+) kB$/m.exec(status.split('\n').find((l) => l.startsWith(`${field}:`)) ?? '')?.[2] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

// -------------------------------------------------------------------------------------------------
// The benchmark

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}


async function main(): Promise<void> {
  const requests = arg('requests', 400);
  const concurrency = arg('concurrency', 8);
  const maxSeconds = arg('max-seconds', 120);
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const shared = sharedDir();
  process.env['HEADSTART_MODELS'] = modelsDir();
  const hymenoptera = path.join(shared, 'datasets', 'hymenoptera');
  const home = await mkdtemp(path.join(tmpdir(), 'hs-load-'));

  try {
    // Prepare: upload 6+6 photos and train, in this process, then close the runtime.
    const folder = path.join(home, 'upload');
    for (const label of ['ants', 'bees']) {
      await mkdir(path.join(folder, label), { recursive: true });
      for (const file of (await readdir(path.join(hymenoptera, 'train', label))).sort().slice(0, 6)) await cp(path.join(hymenoptera, 'train', label, file), path.join(folder, label, file));
    }
    const { LocalRuntime } = await import('../src/local/LocalRuntime.js');
    const { localConfig } = await import('../src/config.js');
    const { upload } = await import('../src/cli/commands/upload.js');
    // Consuming (as `headstart upload` opens it): only such a runtime extracts what upload queues.
    const runtime = await LocalRuntime.open({ ...localConfig({}), home }, { consume: true });
    await upload(runtime, folder, 'load');
    const model = await runtime.train('load', { standalone: false, report: false });
    await runtime.close();

    const images: Uint8Array[] = [];
    for (const label of ['ants', 'bees']) {
      for (const file of (await readdir(path.join(hymenoptera, 'val', label))).sort().slice(0, 4)) images.push(await readFile(path.join(hymenoptera, 'val', label, file)));
    }

    const port = await freePort();
    const child = spawn(process.execPath, [path.join(repo, 'bin', 'headstart.js'), 'serve', '--port', String(port)], {
      env: { ...process.env, HEADSTART_HOME: home },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (out.includes('headstart API on')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`headstart serve exited (${code}) before it listened: ${out}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const pid = child.pid as number;
      // Warm-up: loads the backbone and the head, outside the measurement.
      await runLoad({ url, dataset: 'load', images, requests: 2 * concurrency, concurrency });
      const warm = await processMemoryMb(pid);
      let sampledPeak = warm?.rss ?? NaN;
      const figures = await runLoad({
        url,
        dataset: 'load',
        images,
        requests,
        concurrency,
        maxMs: maxSeconds * 1000,
        onTick: () => void processMemoryMb(pid).then((m) => m && (sampledPeak = Math.max(sampledPeak, m.rss))),
      });
      const end = await processMemoryMb(pid);
      const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
      const report = {
        command: `npx tsx bench/load.ts --requests ${requests} --concurrency ${concurrency} --max-seconds ${maxSeconds}`,
        cpus: (await import('node:os')).availableParallelism(),
        model: model.version,
        requests: figures.requests,
        ok: figures.ok,
        errors: figures.errors,
        errorSamples: figures.errorSamples,
        seconds: round(figures.durationMs / 1000, 2),
        throughputPerSecond: round(figures.throughputPerSecond),
        p50Ms: round(figures.p50Ms),
        p90Ms: round(figures.p90Ms),
        p99Ms: round(figures.p99Ms),
        maxMs: round(figures.maxMs),
        serverRssAfterWarmupMb: round(warm?.rss ?? NaN),
        serverRssEndMb: round(end?.rss ?? NaN),
        serverPeakRssMb: round(Math.max(end?.peak ?? NaN, sampledPeak)),
      };
      console.log(`load on headstart serve (127.0.0.1), ${report.cpus} CPUs: ${report.requests} requests, concurrency ${concurrency}`);
      console.log(`  ok ${report.ok}, errors ${report.errors}${report.errors ? ` (${report.errorSamples.join('; ')})` : ''}`);
      console.log(`  ${report.throughputPerSecond} requests/s over ${report.seconds} s; latency p50 ${report.p50Ms} ms, p90 ${report.p90Ms} ms, p99 ${report.p99Ms} ms, max ${report.maxMs} ms`);
      console.log(`  server RSS ${report.serverRssAfterWarmupMb} MB after warm-up, ${report.serverRssEndMb} MB at the end, peak ${report.serverPeakRssMb} MB`);
      console.log(JSON.stringify(report));
      if (figures.errors > 0) process.exitCode = 1;
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
