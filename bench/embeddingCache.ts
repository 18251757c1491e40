/**
 * Embeddings of the shared evaluation sets for the benchmarks, computed with the real backbone and
 * cached under .bench/embeddings (gitignored). A split is stored as raw little-endian float32 rows
 * (<split>.f32) plus a JSON sidecar with dims, labels and file names, a format numpy reads with
 * `np.fromfile(path, '<f4').reshape(n, d)`; the scikit-learn baseline reads the same files.
 *
 * The cache is keyed by backbone id and preprocessing key, and is reused only when the split's file
 * list (names and sizes) is unchanged.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidImageError } from '../src/errors.js';
import type { Backbone } from '../src/backbone/Backbone.js';
import { preprocessKey } from '../src/image/preprocess.js';

export interface SplitFile {
  relativePath: string;
  bytes: number;
}

export interface SplitMeta {
  dataset: string;
  split: string;
  backboneId: string;
  preprocessing: string;
  classNames: string[];
  dims: [number, number];
  labels: number[];
  /** Every file of the split as listed (name and size): the cache is valid while this is unchanged. */
  listing: SplitFile[];
  /** The files behind the rows, in row order. */
  files: string[];
  /** Files the backbone refused, with the reason; they are not in the rows. */
  skipped: Array<{ relativePath: string; reason: string }>;
}

export interface EmbeddedSplit {
  meta: SplitMeta;
  embeddings: Float32Array;
  labels: Int32Array;
  /** Path of the .f32 file (the JSON sidecar sits next to it). */
  dataPath: string;
  fromCache: boolean;
}

async function listSplit(root: string, classNames: readonly string[]): Promise<Array<SplitFile & { label: number }>> {
  const out: Array<SplitFile & { label: number }> = [];
  for (const [label, name] of classNames.entries()) {
    const files = (await readdir(path.join(root, name), { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    for (const file of files) {
      const relativePath = `${name}/${file}`;
      out.push({ relativePath, bytes: (await stat(path.join(root, relativePath))).size, label });
    }
  }
  return out;
}

/** Class names of a dataset: the label folders of its training split, sorted. */
export async function datasetClasses(datasetDir: string, trainSplit: string): Promise<string[]> {
  const entries = await readdir(path.join(datasetDir, trainSplit), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

export async function embedSplit(
  backbone: Backbone,
  datasetsDir: string,
  cacheDir: string,
  dataset: string,
  split: string,
  classNames: readonly string[],
  log: (line: string) => void = () => {},
): Promise<EmbeddedSplit> {
  const root = path.join(datasetsDir, dataset, split);
  const listed = await listSplit(root, classNames);
  const preprocessing = preprocessKey(backbone.spec.preprocessing);
  const dir = path.join(cacheDir, safeName(backbone.id));
  const dataPath = path.join(dir, `${dataset}-${split}.f32`);
  const metaPath = path.join(dir, `${dataset}-${split}.json`);
  const files = listed.map(({ relativePath, bytes }) => ({ relativePath, bytes }));

  try {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as SplitMeta;
    const sameFiles = JSON.stringify(meta.listing) === JSON.stringify(files);
    if (meta.backboneId === backbone.id && meta.preprocessing === preprocessing && sameFiles && JSON.stringify(meta.classNames) === JSON.stringify(classNames)) {
      const raw = await readFile(dataPath);
      const embeddings = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      if (embeddings.length === meta.dims[0] * meta.dims[1]) {
        return { meta, embeddings, labels: Int32Array.from(meta.labels), dataPath, fromCache: true };
      }
    }
  } catch {
    // No usable cache: compute below.
  }

  const started = performance.now();
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  const kept: string[] = [];
  const skipped: SplitMeta['skipped'] = [];
  const chunk = 64;
  for (let start = 0; start < listed.length; start += chunk) {
    const part = listed.slice(start, start + chunk);
    const bytes = await Promise.all(part.map((f) => readFile(path.join(root, f.relativePath))));
    const embedded = await backbone.embedImages(bytes);
    embedded.forEach((e, i) => {
      const file = part[i]!;
      if (e instanceof InvalidImageError) skipped.push({ relativePath: file.relativePath, reason: `${e.reason}: ${e.message}` });
      else {
        rows.push(e);
        labels.push(file.label);
        kept.push(file.relativePath);
      }
    });
  }
  const d = backbone.embeddingSize;
  const embeddings = new Float32Array(rows.length * d);
  rows.forEach((r, i) => embeddings.set(r, i * d));
  const meta: SplitMeta = {
    dataset,
    split,
    backboneId: backbone.id,
    preprocessing,
    classNames: [...classNames],
    dims: [rows.length, d],
    labels,
    listing: files,
    files: kept,
    skipped,
  };
  await mkdir(dir, { recursive: true });
  await writeFile(dataPath, new Uint8Array(embeddings.buffer));
  await writeFile(metaPath, JSON.stringify(meta));
  log(`  embedded ${dataset}/${split}: ${rows.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s${skipped.length ? `, ${skipped.length} skipped` : ''}`);
  return { meta, embeddings, labels: Int32Array.from(labels), dataPath, fromCache: false };
}
