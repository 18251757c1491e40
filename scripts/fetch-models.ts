/**
 * `npm run fetch-models [-- --all | <backbone names...>]` (image backbones, or text ones: `-- minilm-l6-v2`)
 *
 * Downloads backbone files and the ImageNet labels into the models folder (HEADSTART_MODELS, else
 * <repo>/models), each verified against its pinned sha256 and written atomically (temporary file,
 * then rename), so a half-downloaded or tampered file never sits under the real name. This is the
 * only code in headstart that touches the network; nothing at run time does.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CATALOGUE, IMAGENET_LABELS_FILE, TEXT_CATALOGUE } from '../src/backbone/catalogue.js';
import { modelsDirectory } from '../src/backbone/resolveBackbone.js';
import { sha256File } from '../src/backbone/sha256File.js';

export interface Artifact {
  file: string;
  url: string;
  /** The sha256 a download must have. */
  sha256: string;
  /** Other sha256s an already present file may have and still be kept (e.g. an equivalent copy). */
  alsoAccepted?: readonly string[];
  what: string;
}

/** Backbones fetched when no name is given: the upstream float32 release. */
export const DEFAULT_FETCH = ['mobilenetv2-12'];

export const LABELS: Artifact = {
  file: IMAGENET_LABELS_FILE,
  url: 'https://raw.githubusercontent.com/pytorch/hub/master/imagenet_classes.txt',
  sha256: '1f386e0d1cb6e28b9c2dac651c3dea6801e98ad1b41a14ce6bb1a093d72069f5',
  // The copy in the shared models folder: the same 1000 names, byte-different.
  alsoAccepted: ['e697a491aa735cc6c2aaf982f8e86e8fc7b0a1ea7750a2cc6a2bdfc1e109012f'],
  what: 'ImageNet-1k class names',
};

export function artifactsFor(names: readonly string[]): Artifact[] {
  const artifacts: Artifact[] = [];
  let images = false;
  for (const name of names) {
    const text = TEXT_CATALOGUE.find((s) => s.name === name);
    if (text) {
      // A text backbone is two pinned files: the ONNX encoder and its tokenizer.json.
      for (const [file, what] of [[text.model, 'encoder'], [text.tokenizer, 'tokenizer']] as const) {
        if (!file.url) throw new Error(`text backbone "${name}" cannot be downloaded (its ${what} has no source); copy it into the models folder or set HEADSTART_MODELS`);
        artifacts.push({ file: file.file, url: file.url, sha256: file.sha256, what: `text backbone ${name} (${what})` });
      }
      continue;
    }
    images = true;
    const spec = CATALOGUE.find((s) => s.name === name);
    if (!spec) throw new Error(`unknown backbone "${name}"; downloadable: ${[...CATALOGUE.filter((s) => s.source).map((s) => s.name), ...TEXT_CATALOGUE.filter((s) => s.model.url).map((s) => s.name)].join(', ')}`);
    if (!spec.source) throw new Error(`backbone "${name}" cannot be downloaded (it is a derived file); copy it into the models folder or set HEADSTART_MODELS`);
    artifacts.push({ file: spec.file, url: spec.source.url, sha256: spec.source.sha256, what: `backbone ${name}` });
  }
  // The ImageNet labels belong with image backbones only.
  return images ? [...artifacts, LABELS] : artifacts;
}

export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<Response>;

export interface FetchOptions {
  fetchImpl?: FetchLike;
  log?: (line: string) => void;
  /** Whole-download time limit. */
  timeoutMs?: number;
}

export class DownloadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DownloadError';
  }
}

function networkHint(url: string, error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code ?? (error as Error).name;
  return `could not download ${url} (${code}: ${(error as Error).message}). Is this machine offline? ` +
    'fetch-models needs the internet once; alternatively copy the files into the models folder by hand, or set HEADSTART_MODELS to a folder that has them';
}

/** Present with an accepted sha256 -> kept; otherwise downloaded to a temporary name, verified, renamed. */
export async function downloadVerified(artifact: Artifact, dir: string, options: FetchOptions = {}): Promise<'present' | 'downloaded'> {
  const fetchImpl = options.fetchImpl ?? (fetch as FetchLike);
  const log = options.log ?? (() => {});
  const dest = path.join(dir, artifact.file);
  const present = await sha256File(dest).catch(() => undefined);
  if (present && (present === artifact.sha256 || artifact.alsoAccepted?.includes(present))) {
    log(`${artifact.file}: present, sha256 ok`);
    return 'present';
  }
  if (present) log(`${artifact.file}: present but sha256 ${present} is not the pinned ${artifact.sha256}; downloading again`);

  // Files may sit in sub-folders of the models folder (text/all-MiniLM-L6-v2/...).
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.download`);
  log(`${artifact.file}: downloading ${artifact.what} from ${artifact.url}`);
  let response: Response;
  try {
    response = await fetchImpl(artifact.url, { signal: AbortSignal.timeout(options.timeoutMs ?? 10 * 60_000) });
  } catch (error) {
    throw new DownloadError(networkHint(artifact.url, error), { cause: error });
  }
  if (!response.ok || !response.body) {
    throw new DownloadError(`could not download ${artifact.url}: HTTP ${response.status} ${response.statusText}`);
  }

  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const out = createWriteStream(tmp, { flags: 'w' });
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    }
    const actual = hash.digest('hex');
    if (actual !== artifact.sha256) {
      throw new DownloadError(`${artifact.url} has sha256 ${actual} (${bytes} bytes), expected ${artifact.sha256}: not saved. The upstream file changed or the download was tampered with`);
    }
    await rename(tmp, dest);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    if (error instanceof DownloadError) throw error;
    throw new DownloadError(networkHint(artifact.url, error), { cause: error });
  }
  log(`${artifact.file}: saved (${bytes} bytes, sha256 ok)`);
  return 'downloaded';
}

export async function fetchModels(names: readonly string[], dir: string, options: FetchOptions = {}): Promise<void> {
  for (const artifact of artifactsFor(names)) await downloadVerified(artifact, dir, options);
}

async function main(argv: string[]): Promise<void> {
  const all = argv.includes('--all');
  const named = argv.filter((a) => !a.startsWith('--'));
  const names = all ? [...CATALOGUE.filter((s) => s.source).map((s) => s.name), ...TEXT_CATALOGUE.filter((s) => s.model.url).map((s) => s.name)] : named.length > 0 ? named : DEFAULT_FETCH;
  const dir = modelsDirectory();
  console.log(`models folder: ${dir}${process.env['HEADSTART_MODELS'] ? ' (HEADSTART_MODELS)' : ''}`);
  await fetchModels(names, dir, { log: (line) => console.log(line) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`fetch-models: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
