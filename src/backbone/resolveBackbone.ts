/**
 * Finds a backbone's model file on this machine and proves it is the right one (sha256) before
 * anything runs it. headstart never downloads at run time: a missing file is one clear error that
 * says where we looked and how to get it.
 */
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { BackboneMissingError, NotFoundError } from '../errors.js';
import { backboneId, CATALOGUE, DEFAULT_BACKBONE, findCatalogueEntry, type BackboneSpec } from './catalogue.js';
import { readRegisteredBackbones } from './registeredBackbones.js';
import { sha256File } from './sha256File.js';
import { packageRoot } from '../util/packageRoot.js';

export interface BackboneLocation {
  /** Folder with the catalogue's model files; default HEADSTART_MODELS, else <repo>/models. */
  modelsDir?: string;
  /** Folder of registered backbones (the CLI passes <HEADSTART_HOME>/backbones). */
  backbonesDir?: string;
}

export interface ResolvedBackbone {
  spec: BackboneSpec;
  id: string;
  modelPath: string;
  /** Present when the spec names labels and the file exists. */
  labelsPath?: string;
}

const repoRoot = packageRoot(import.meta.url);

/** Where catalogue model files live: HEADSTART_MODELS, else <repo>/models (where fetch-models writes). */
export function modelsDirectory(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  const fromEnv = process.env['HEADSTART_MODELS'];
  return fromEnv ? path.resolve(fromEnv) : path.join(repoRoot, 'models');
}

function whereFrom(explicit?: string): string {
  if (explicit) return 'as passed by the caller';
  return process.env['HEADSTART_MODELS'] ? 'from HEADSTART_MODELS' : 'the default <repo>/models; set HEADSTART_MODELS to use another folder';
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function findSpec(name: string, location: BackboneLocation): Promise<BackboneSpec> {
  const fromCatalogue = findCatalogueEntry(name);
  if (fromCatalogue) return fromCatalogue;
  const registered = location.backbonesDir ? await readRegisteredBackbones(location.backbonesDir) : [];
  const found = registered.find((spec) => spec.name === name);
  if (found) return found;
  const known = [...CATALOGUE.map((s) => s.name), ...registered.map((s) => s.name)];
  throw new NotFoundError(`unknown backbone "${name}"; known: ${known.join(', ')}`, 'backbone_not_found', { context: { backbone: name } });
}

function howToGet(spec: BackboneSpec, dir: string): string {
  if (path.isAbsolute(spec.file)) return `register it again with the file at its new place (headstart backbone add)`;
  if (spec.source) return `run \`npm run fetch-models\` on a machine with internet (it writes ${spec.file} into ${dir}), or set HEADSTART_MODELS to a folder that holds it`;
  const downloadable = CATALOGUE.filter((s) => s.source).map((s) => s.name);
  return `it cannot be downloaded (a derived file); set HEADSTART_MODELS to a folder that holds ${spec.file}, or use a downloadable backbone (${downloadable.join(', ')}) after \`npm run fetch-models\` on a machine with internet`;
}

/**
 * Resolves a backbone by name (default {@link DEFAULT_BACKBONE}) or spec, verifying the file's
 * sha256 (hashed once per file version). Throws {@link BackboneMissingError} when the file is
 * absent or is not the pinned one, {@link NotFoundError} for an unknown name.
 */
export async function resolveBackbone(nameOrSpec: string | BackboneSpec = DEFAULT_BACKBONE, location: BackboneLocation = {}): Promise<ResolvedBackbone> {
  const spec = typeof nameOrSpec === 'string' ? await findSpec(nameOrSpec, location) : nameOrSpec;
  const dir = modelsDirectory(location.modelsDir);
  const modelPath = path.resolve(dir, spec.file);
  const id = backboneId(spec);

  if (!(await exists(modelPath))) {
    throw new BackboneMissingError(
      `backbone "${spec.name}" is not on this machine: looked for ${modelPath} (models folder ${dir}, ${whereFrom(location.modelsDir)}). To get it: ${howToGet(spec, dir)}.`,
      { context: { backbone: spec.name, path: modelPath } },
    );
  }
  const actual = await sha256File(modelPath);
  if (actual !== spec.sha256) {
    const { size } = await stat(modelPath);
    throw new BackboneMissingError(
      `backbone "${spec.name}" at ${modelPath} is not the expected file: its sha256 is ${actual} (${size} bytes), expected ${spec.sha256}. ` +
        `Replace it: ${howToGet(spec, dir)}.`,
      { context: { backbone: spec.name, path: modelPath, sha256: actual, expected: spec.sha256 } },
    );
  }

  const resolved: ResolvedBackbone = { spec, id, modelPath };
  if (spec.labelsFile) {
    const labelsPath = path.resolve(path.dirname(modelPath), spec.labelsFile);
    if (await exists(labelsPath)) resolved.labelsPath = labelsPath;
  }
  return resolved;
}

export interface ListedBackbone {
  spec: BackboneSpec;
  id: string;
  path: string;
  registered: boolean;
}

/**
 * Catalogue entries and registered backbones whose model file is present on disk (not hashed
 * here; {@link resolveBackbone} verifies before use).
 */
export async function listBackbones(extraDir?: string, location: Pick<BackboneLocation, 'modelsDir'> = {}): Promise<ListedBackbone[]> {
  const dir = modelsDirectory(location.modelsDir);
  const registered = extraDir ? await readRegisteredBackbones(extraDir) : [];
  const all = [...CATALOGUE.map((spec) => ({ spec, registered: false })), ...registered.map((spec) => ({ spec, registered: true }))];
  const listed: ListedBackbone[] = [];
  for (const { spec, registered: isRegistered } of all) {
    const file = path.resolve(dir, spec.file);
    if (await exists(file)) listed.push({ spec, id: backboneId(spec), path: file, registered: isRegistered });
  }
  return listed;
}

/**
 * The backbone to use when none is named: the default if its file is here, else the first
 * downloadable catalogue entry that `npm run fetch-models` has put here (on a machine that had
 * to download, the derived default does not exist), else the default (whose error says what to do).
 */
export async function defaultBackboneName(location: BackboneLocation = {}): Promise<string> {
  const dir = modelsDirectory(location.modelsDir);
  // float32 before int8: int8 kernels give different embeddings on CPUs with and without VNNI.
  const downloadable = CATALOGUE.filter((s) => s.source).sort((a, b) => Number(a.name.includes('int8')) - Number(b.name.includes('int8')));
  const candidates = [DEFAULT_BACKBONE, ...downloadable.map((s) => s.name)];
  for (const name of candidates) {
    const spec = findCatalogueEntry(name);
    if (spec && (await exists(path.resolve(dir, spec.file)))) return name;
  }
  return DEFAULT_BACKBONE;
}
