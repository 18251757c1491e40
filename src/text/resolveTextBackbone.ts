/**
 * Finds a text backbone's two files (ONNX encoder and tokenizer.json) on this machine and proves
 * they are the pinned ones (sha256) before anything runs them; lists the text backbones present;
 * and picks the text default. As for images, nothing is downloaded here: a missing file is one clear
 * error that says where we looked and how to get it.
 */
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { backboneId, DEFAULT_TEXT_BACKBONE, findTextCatalogueEntry, TEXT_CATALOGUE, type PinnedFile, type TextBackboneSpec } from '../backbone/catalogue.js';
import { modelsDirectory } from '../backbone/resolveBackbone.js';
import { sha256File } from '../backbone/sha256File.js';
import { readRegisteredSpecs } from '../backbone/registeredBackbones.js';
import { BackboneMissingError, HeadstartError, NotFoundError } from '../errors.js';

export interface TextBackboneLocation {
  /** Folder with the catalogue's model files; default HEADSTART_MODELS, else <repo>/models. */
  modelsDir?: string;
  /** Folder of registered backbones (the CLI passes <HEADSTART_HOME>/backbones); text ones live in its text/ subfolder. */
  backbonesDir?: string;
}

export interface ResolvedTextBackbone {
  spec: TextBackboneSpec;
  id: string;
  modelPath: string;
  tokenizerPath: string;
}

const pinned = z.object({ file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().optional(), url: z.string().optional() });
const textSpecSchema = z.object({
  modality: z.literal('text'),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  model: pinned,
  tokenizer: pinned,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  preprocessing: z.object({
    tokenizer: z.literal('tokenizer.json'),
    tokenizerSha256: z.string().regex(/^[0-9a-f]{64}$/),
    maxTokens: z.number().int().min(2),
    pooling: z.literal('mean'),
    normalize: z.literal('l2'),
  }),
  embeddingSize: z.number().int().positive(),
  output: z.string().min(1),
  defaultCandidate: z.boolean(),
  description: z.string().optional(),
});

/** Registered text backbones sit apart from image ones, so neither reader meets the other's format. */
export function textBackbonesDir(backbonesDir: string): string {
  return path.join(backbonesDir, 'text');
}

export async function readRegisteredTextBackbones(backbonesDir: string | undefined): Promise<TextBackboneSpec[]> {
  if (!backbonesDir) return [];
  return readRegisteredSpecs(textBackbonesDir(backbonesDir), textSpecSchema, 'text backbone') as Promise<TextBackboneSpec[]>;
}

export async function writeRegisteredTextBackbone(backbonesDir: string, spec: TextBackboneSpec): Promise<string> {
  const dir = textBackbonesDir(backbonesDir);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${spec.name}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(spec, null, 2)}\n`);
  await rename(tmp, file);
  return file;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export async function findTextSpec(name: string, location: TextBackboneLocation): Promise<TextBackboneSpec | undefined> {
  return findTextCatalogueEntry(name) ?? (await readRegisteredTextBackbones(location.backbonesDir)).find((s) => s.name === name);
}

function howToGet(spec: TextBackboneSpec, file: PinnedFile, dir: string): string {
  if (path.isAbsolute(file.file)) return 'register it again with the files at their new place (headstart backbone add --text)';
  if (file.url) return `run \`npm run fetch-models -- ${spec.name}\` on a machine with internet (it writes ${file.file} into ${dir}), or set HEADSTART_MODELS to a folder that holds it`;
  return `it cannot be downloaded; set HEADSTART_MODELS to a folder that holds ${file.file}`;
}

async function verified(spec: TextBackboneSpec, file: PinnedFile, what: string, dir: string): Promise<string> {
  const full = path.resolve(dir, file.file);
  if (!(await exists(full))) {
    throw new BackboneMissingError(`text backbone "${spec.name}" is not on this machine: its ${what} ${full} is missing (models folder ${dir}). To get it: ${howToGet(spec, file, dir)}.`, {
      context: { backbone: spec.name, path: full },
    });
  }
  const actual = await sha256File(full);
  if (actual !== file.sha256) {
    throw new BackboneMissingError(`text backbone "${spec.name}": ${full} is not the expected ${what} (sha256 ${actual}, expected ${file.sha256}). Replace it: ${howToGet(spec, file, dir)}.`, {
      context: { backbone: spec.name, path: full, sha256: actual, expected: file.sha256 },
    });
  }
  return full;
}

/** Resolves a text backbone by name or spec, verifying both files' sha256. */
export async function resolveTextBackbone(nameOrSpec: string | TextBackboneSpec, location: TextBackboneLocation = {}): Promise<ResolvedTextBackbone> {
  const spec = typeof nameOrSpec === 'string' ? await findTextSpec(nameOrSpec, location) : nameOrSpec;
  if (!spec) {
    const known = [...TEXT_CATALOGUE.map((s) => s.name), ...(await readRegisteredTextBackbones(location.backbonesDir)).map((s) => s.name)];
    throw new NotFoundError(`unknown text backbone "${String(nameOrSpec)}"; known: ${known.join(', ')}`, 'backbone_not_found', { context: { backbone: nameOrSpec } });
  }
  const dir = modelsDirectory(location.modelsDir);
  const modelPath = await verified(spec, spec.model, 'encoder', dir);
  const tokenizerPath = await verified(spec, spec.tokenizer, 'tokenizer.json', dir);
  return { spec, id: backboneId(spec), modelPath, tokenizerPath };
}

export interface ListedTextBackbone {
  spec: TextBackboneSpec;
  id: string;
  registered: boolean;
}

/** Text backbones whose two files are present (not hashed here; resolving verifies before use). */
export async function listTextBackbones(location: TextBackboneLocation = {}): Promise<ListedTextBackbone[]> {
  const dir = modelsDirectory(location.modelsDir);
  const registered = await readRegisteredTextBackbones(location.backbonesDir);
  const all = [...TEXT_CATALOGUE.map((spec) => ({ spec, registered: false })), ...registered.map((spec) => ({ spec, registered: true }))];
  const listed: ListedTextBackbone[] = [];
  for (const { spec, registered: isRegistered } of all) {
    if ((await exists(path.resolve(dir, spec.model.file))) && (await exists(path.resolve(dir, spec.tokenizer.file)))) {
      listed.push({ spec, id: backboneId(spec), registered: isRegistered });
    }
  }
  return listed;
}

/**
 * The pretrained text encoder to use when none is named: MiniLM when fetched, else a registered
 * encoder, else none (training then uses the TF-IDF baseline and says how to get one). Test-only
 * encoders (tiny-bert-random) are never picked.
 */
export async function defaultTextBackboneName(location: TextBackboneLocation = {}): Promise<string | undefined> {
  const present = (await listTextBackbones(location)).filter((b) => b.spec.defaultCandidate || b.registered);
  return (present.find((b) => b.spec.name === DEFAULT_TEXT_BACKBONE) ?? present[0])?.spec.name;
}
