/**
 * Packages the Lambda functions (extract, infer) into self-contained asset folders for the CDK.
 *
 * Each asset is:
 *   index.mjs                 the handler and all pure-JS dependencies, bundled by esbuild (ESM, node22)
 *   node_modules/...          the native packages kept external (onnxruntime-node, sharp) and their
 *                             runtime dependencies, pruned to linux-x64 glibc binaries
 *   models/                   the backbone file (sha256-verified against src/backbone/catalogue.ts)
 *                             and its class names when present (HEADSTART_MODELS=/var/task/models);
 *                             with a text backbone (`-c textBackbone=<name>`), also its encoder and
 *                             tokenizer.json, both sha256-verified, at the paths the entry names
 *   backbones/text/<name>.json  a registered text backbone's entry, its files made relative to
 *                             models/ (HEADSTART_BACKBONES=/var/task/backbones); catalogue ones need none
 *
 * Why a script run before synth and not `Code.fromAsset(..., { bundling })`: the CDK app awaits
 * this before it builds the stack (infra/bin/app.ts), so `cdk synth` needs no Docker daemon and no
 * network, the tests can inject asset folders, and the same command prints the unzipped sizes
 * that the 250 MB Lambda limit is about.
 *
 * The same model files are also staged alone (models-<hash>/), the named build context `models` of
 * the trainer image (functions/train/Dockerfile): the folder is the models folder itself (what goes
 * under models/ in an asset sits at its top), and a registered text backbone's entry goes to
 * backbones/text/<name>.json inside it (HEADSTART_BACKBONES=/opt/headstart/models/backbones).
 *
 * Assets are cached by content hash under .headstart/bundles/: the hash covers the bundled code,
 * every copied file and the model, so an unchanged tree reuses the folder and synth is stable.
 *
 * Usage: npx tsx scripts/bundle-functions.ts [--out <dir>] [--backbone <id>] [--text-backbone <name>]
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';
import { NATIVE_PACKAGES, nodeBuildOptions } from './esbuildOptions.js';
import { DEFAULT_BACKBONE, findCatalogueEntry, findTextCatalogueEntry, TEXT_CATALOGUE, type BackboneSpec, type TextBackboneSpec } from '../src/backbone/catalogue.js';
import { localConfig } from '../src/config.js';
import { BackboneMissingError } from '../src/errors.js';
import { findTextSpec, resolveTextBackbone, textBackbonesDir } from '../src/text/resolveTextBackbone.js';

export const LAMBDA_FUNCTIONS = ['extract', 'infer'] as const;
export type LambdaFunctionName = (typeof LAMBDA_FUNCTIONS)[number];

/** The models folder inside the asset (infra/lib/constructs/pipeline-function.ts LAMBDA_MODELS_DIR points there). */
export const ASSET_MODELS_DIR = 'models';
/** Registered backbone entries inside the asset (infra/lib/constructs/pipeline-function.ts LAMBDA_BACKBONES_DIR points there). */
export const ASSET_BACKBONES_DIR = 'backbones';
export const HANDLER_FILE = 'index.mjs';

/** Lambda's limit on the unzipped size of a function and its layers: 250 MB. */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000;

/** The Lambda target the native binaries are chosen for (architecture x86_64, Amazon Linux 2023, glibc). */
const TARGET = { os: 'linux', cpu: 'x64', libc: 'glibc' } as const;

/** Packages with native code: kept out of the esbuild bundle and copied with their dependencies. */
export { NATIVE_PACKAGES };

/**
 * Dependencies that a package declares but only its install script uses. onnxruntime-node's
 * dist/ requires onnxruntime-common alone; adm-zip and global-agent serve script/install.js
 * (downloading CUDA binaries), which never runs in Lambda.
 */
const INSTALL_ONLY_DEPENDENCIES: Readonly<Record<string, readonly string[]>> = {
  'onnxruntime-node': ['adm-zip', 'global-agent'],
};

/** Paths inside a package (relative, '/'-separated) that are not needed at run time. */
const PACKAGE_PRUNE: Readonly<Record<string, (rel: string) => boolean>> = {
  // TypeScript sources, the install/build scripts, and the binaries of every other platform.
  'onnxruntime-node': (rel) =>
    rel.startsWith('lib/') ||
    rel.startsWith('script/') ||
    (rel.startsWith('bin/napi-v6/') && !rel.startsWith(`bin/napi-v6/${TARGET.os}/${TARGET.cpu}/`)),
  'onnxruntime-common': (rel) => rel.startsWith('lib/'),
  // C++ sources and the from-source install helpers.
  sharp: (rel) => rel.startsWith('src/') || rel.startsWith('install/'),
};

/** Files no package needs at run time (licences and notices are kept on purpose). */
function isDevelopmentFile(rel: string): boolean {
  const base = path.posix.basename(rel);
  return (
    /\.(map|d\.ts|d\.mts|d\.cts|tsbuildinfo)$/.test(base) ||
    /\.(ts|mts|cts)$/.test(base) ||
    /^(README|CHANGELOG|HISTORY)(\..*)?$/i.test(base) ||
    rel.startsWith('docs/') ||
    rel.startsWith('test/') ||
    rel.startsWith('.github/')
  );
}

export class PackagingError extends Error {
  constructor(
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'PackagingError';
  }
}

export interface BundleOptions {
  /** The repository root (where package.json and node_modules are). */
  repoRoot?: string;
  /** The cache folder for assets. Default: <repoRoot>/.headstart/bundles. */
  outDir?: string;
  /** The backbone shipped in models/. Default: mobilenetv2-12-fp32-embed. */
  backbone?: string;
  /** A folder holding the backbone file. Default: see {@link resolveModelsDir}. */
  modelsDir?: string;
  /** A text encoder to ship too: a TEXT_CATALOGUE name or one registered with `headstart backbone add --text`. Default: none (texts take the TF-IDF path). */
  textBackbone?: string;
  /** Where to find it; see {@link locateTextBackbone}. */
  textLocation?: TextBackboneSearch;
  /** Which functions to package. Default: all. */
  functions?: readonly LambdaFunctionName[];
  log?: (line: string) => void;
}

export interface FunctionBundle {
  name: LambdaFunctionName;
  /** The asset folder, ready for lambda.Code.fromAsset. */
  dir: string;
  /** sha256 over everything in the folder; use it as the CDK asset hash. */
  hash: string;
  /** Unzipped size of the folder in bytes. */
  bytes: number;
  /** Unzipped bytes by part: the bundled code, node_modules, the model. */
  parts: { code: number; nodeModules: number; models: number };
  /** Whether this run built the folder (false: reused from the cache). */
  built: boolean;
  /** The text encoder in the asset, when one was asked for. */
  textBackbone?: ShippedTextBackbone;
}

/** What the stack needs to know about the text encoder an asset carries. */
export interface ShippedTextBackbone {
  name: string;
  /** name@sha, the id its embeddings and heads record. */
  id: string;
  /** Registered (its entry ships under backbones/) rather than a catalogue entry. */
  registered: boolean;
}

export interface LocatedBackbone {
  name: string;
  /** The verified model file. */
  path: string;
  sha256: string;
  bytes: number;
  /** The class-names file next to it, when the catalogue names one and it is there. */
  labelsPath?: string;
}

/** The model files staged alone: the trainer image's `models` build context. */
export interface StagedModels {
  dir: string;
  /** sha256 over the staged files' names and contents. */
  hash: string;
  backbone: LocatedBackbone;
  bytes: number;
  /** The text encoder staged beside the backbone, when one was asked for. */
  textBackbone?: ShippedTextBackbone;
}

export function defaultRepoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

/**
 * The folders searched for backbone files, in order: $HEADSTART_MODELS (alone, when set),
 * <repo>/models (where `npm run fetch-models` puts them), ../shared/models (dev machines and CI).
 */
export function modelsDirCandidates(repoRoot: string): string[] {
  const fromEnv = process.env['HEADSTART_MODELS'];
  if (fromEnv) return [path.resolve(fromEnv)];
  return [path.join(repoRoot, 'models'), path.resolve(repoRoot, '..', 'shared', 'models')];
}

export function resolveModelsDir(repoRoot: string, backbone = DEFAULT_BACKBONE): string {
  const spec = catalogueEntry(backbone);
  const candidates = modelsDirCandidates(repoRoot);
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, spec.file)));
  if (!found) {
    throw new PackagingError(
      `backbone file ${spec.file} not found; looked in ${candidates.join(', ')}. ` +
        'Run `npm run fetch-models` (downloadable backbones) or set HEADSTART_MODELS to the folder that holds it.',
      { backbone, candidates },
    );
  }
  return found;
}

/** The backbone's entry in src/backbone/catalogue.ts: its file name, sha256 and class-names file. */
function catalogueEntry(backbone: string): BackboneSpec {
  const spec = findCatalogueEntry(backbone);
  if (!spec) throw new PackagingError(`unknown backbone ${JSON.stringify(backbone)}: not in src/backbone/catalogue.ts`, { backbone });
  if (path.isAbsolute(spec.file)) {
    throw new PackagingError(`backbone ${backbone} names an absolute file; only catalogue files in a models folder can be packaged`, { backbone });
  }
  return spec;
}

/** Finds the backbone file and checks its sha256 against the catalogue. */
export function locateBackbone(repoRoot: string, backbone = DEFAULT_BACKBONE, modelsDir?: string): LocatedBackbone {
  const spec = catalogueEntry(backbone);
  const dir = modelsDir ? path.resolve(modelsDir) : resolveModelsDir(repoRoot, backbone);
  const file = path.join(dir, spec.file);
  if (!fs.existsSync(file)) {
    throw new PackagingError(`backbone file ${file} does not exist`, { backbone, modelsDir: dir });
  }
  const sha256 = sha256File(file);
  if (sha256 !== spec.sha256) {
    throw new PackagingError(
      `backbone file ${file} has sha256 ${sha256}, expected ${spec.sha256} (a different or damaged file)`,
      { backbone, file, sha256, expected: spec.sha256 },
    );
  }
  const located: LocatedBackbone = { name: backbone, path: file, sha256, bytes: fs.statSync(file).size };
  const labels = spec.labelsFile ? path.join(dir, spec.labelsFile) : undefined;
  if (labels && fs.existsSync(labels)) located.labelsPath = labels;
  return located;
}

function modelFiles(backbone: LocatedBackbone): AssetFile[] {
  return [backbone.path, ...(backbone.labelsPath ? [backbone.labelsPath] : [])].map((from) => ({
    from,
    to: `${ASSET_MODELS_DIR}/${path.basename(from)}`,
    bytes: fs.statSync(from).size,
  }));
}

/**
 * Copies the backbone (and its class names), and the text encoder and tokenizer.json when one is
 * asked for, into <outDir>/models-<hash>/, reusing an existing copy. The folder is the models folder
 * itself: an asset's models/<rel> goes to <rel>, so the paths a text entry names still hold, and a
 * registered entry's backbones/text/<name>.json stays under backbones/ inside it. The hash covers
 * every file, so the trainer image changes with the encoder.
 */
export async function stageModels(
  options: Pick<BundleOptions, 'repoRoot' | 'outDir' | 'backbone' | 'modelsDir' | 'textBackbone' | 'textLocation'> = {},
): Promise<StagedModels> {
  const repoRoot = path.resolve(options.repoRoot ?? defaultRepoRoot());
  const outDir = path.resolve(options.outDir ?? path.join(repoRoot, '.headstart', 'bundles'));
  const backbone = locateBackbone(repoRoot, options.backbone ?? DEFAULT_BACKBONE, options.modelsDir);
  const text = options.textBackbone === undefined ? undefined : await locateTextBackbone(repoRoot, options.textBackbone, options.textLocation);
  const modelsPrefix = `${ASSET_MODELS_DIR}/`;
  const files = [...modelFiles(backbone), ...(text?.files ?? [])].map((f) => ({ ...f, to: f.to.startsWith(modelsPrefix) ? f.to.slice(modelsPrefix.length) : f.to }));
  const hash = hashFiles(files);
  const dir = path.join(outDir, `models-${hash.slice(0, 16)}`);
  if (!fs.existsSync(dir)) writeAsset(dir, files);
  pruneOldAssets(outDir, 'models', dir);
  return { dir, hash, backbone, bytes: files.reduce((sum, f) => sum + f.bytes, 0), ...(text ? { textBackbone: text.shipped } : {}) };
}

/** One file to place in the asset: where it comes from (a file, or bytes made here) and where it goes (relative, '/'-separated). */
type AssetFile = { to: string; bytes: number } & ({ from: string } | { content: Uint8Array });

/** Where {@link locateTextBackbone} looks. */
export interface TextBackboneSearch {
  /** The folder with catalogue text files. Default: the first of {@link modelsDirCandidates} that holds both. */
  modelsDir?: string;
  /** Registered backbones, as the CLI keeps them. Default: <HEADSTART_HOME>/backbones. */
  backbonesDir?: string;
}

export interface LocatedTextBackbone {
  shipped: ShippedTextBackbone;
  /** The encoder and tokenizer.json (sha256-verified), and for a registered one its rewritten entry. */
  files: AssetFile[];
}

/**
 * Finds a text backbone's two files and proves them the pinned ones (sha256, through the same
 * resolveTextBackbone the functions load it with), and says where they go in the asset: a
 * catalogue entry's files at the relative paths it names under models/; a registered one's (whose
 * entry holds absolute paths on this machine) under models/text/<name>/, with a copy of its entry
 * that names them there. The id stays the same: it hashes the files' contents, not their places.
 */
export async function locateTextBackbone(repoRoot: string, name: string, search: TextBackboneSearch = {}): Promise<LocatedTextBackbone> {
  const backbonesDir = path.resolve(search.backbonesDir ?? path.join(localConfig().home, 'backbones'));
  const spec = await findTextSpec(name, { backbonesDir });
  if (!spec) {
    throw new PackagingError(
      `unknown text backbone ${JSON.stringify(name)} (context textBackbone): not in src/backbone/catalogue.ts (${TEXT_CATALOGUE.map((s) => s.name).join(', ')}) ` +
        `and not registered in ${textBackbonesDir(backbonesDir)} (headstart backbone add --text; HEADSTART_HOME sets where)`,
      { name, backbonesDir },
    );
  }
  const registered = findTextCatalogueEntry(name) === undefined;
  const candidates = search.modelsDir ? [path.resolve(search.modelsDir)] : modelsDirCandidates(repoRoot);
  const holdsBoth = (dir: string): boolean => [spec.model.file, spec.tokenizer.file].every((f) => fs.existsSync(path.resolve(dir, f)));
  const modelsDir = candidates.find(holdsBoth) ?? (candidates[0] as string);
  let resolved;
  try {
    resolved = await resolveTextBackbone(spec, { modelsDir });
  } catch (error) {
    // Its message names the missing (or different) file and how to get it; add where else we looked.
    if (error instanceof BackboneMissingError) throw new PackagingError(`${error.message} Looked in ${candidates.join(', ')}.`, { name, candidates });
    throw error;
  }
  const place = (file: string, fallback: string): string => (registered ? `text/${name}/${fallback}` : toPosix(path.normalize(file)));
  const modelTo = place(spec.model.file, path.basename(resolved.modelPath));
  const tokenizerTo = place(spec.tokenizer.file, 'tokenizer.json');
  const files: AssetFile[] = [
    { from: resolved.modelPath, to: `${ASSET_MODELS_DIR}/${modelTo}`, bytes: fs.statSync(resolved.modelPath).size },
    { from: resolved.tokenizerPath, to: `${ASSET_MODELS_DIR}/${tokenizerTo}`, bytes: fs.statSync(resolved.tokenizerPath).size },
  ];
  if (registered) {
    const shippedSpec: TextBackboneSpec = { ...spec, model: { ...spec.model, file: modelTo }, tokenizer: { ...spec.tokenizer, file: tokenizerTo } };
    const content = new TextEncoder().encode(`${JSON.stringify(shippedSpec, null, 2)}\n`);
    files.push({ content, to: `${ASSET_BACKBONES_DIR}/text/${name}.json`, bytes: content.byteLength });
  }
  return { shipped: { name, id: resolved.id, registered }, files };
}

/**
 * The native packages and their run-time dependency closure, as files to copy. Optional
 * dependencies count only when installed and built for the Lambda target (sharp's
 * @img/sharp-linux-x64 and @img/sharp-libvips-linux-x64).
 */
export function nativeRuntimeFiles(repoRoot: string): AssetFile[] {
  const nodeModules = path.join(repoRoot, 'node_modules');
  const seen = new Set<string>();
  const files: AssetFile[] = [];

  const visit = (name: string, fromDir: string, requiredBy: string): void => {
    const pkgDir = resolvePackageDir(name, fromDir, nodeModules);
    if (!pkgDir) {
      throw new PackagingError(`package ${name} (needed by ${requiredBy}) is not installed; run npm ci`, { name, requiredBy });
    }
    if (seen.has(pkgDir)) return;
    seen.add(pkgDir);
    const manifest = readJson(path.join(pkgDir, 'package.json')) as PackageManifest;
    const prune = PACKAGE_PRUNE[name];
    for (const rel of listFiles(pkgDir)) {
      if (rel.startsWith('node_modules/') || isDevelopmentFile(rel) || prune?.(rel)) continue;
      const from = path.join(pkgDir, rel);
      files.push({ from, to: toPosix(path.relative(repoRoot, from)), bytes: fs.statSync(from).size });
    }
    const skip = new Set(INSTALL_ONLY_DEPENDENCIES[name] ?? []);
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      if (!skip.has(dep)) visit(dep, pkgDir, name);
    }
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) {
      if (skip.has(dep)) continue;
      const depDir = resolvePackageDir(dep, pkgDir, nodeModules);
      if (depDir && matchesTarget(readJson(path.join(depDir, 'package.json')) as PackageManifest)) visit(dep, pkgDir, name);
    }
  };

  for (const name of NATIVE_PACKAGES) visit(name, repoRoot, 'the functions');
  return files.sort((a, b) => a.to.localeCompare(b.to));
}

interface PackageManifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

/** npm's os/cpu/libc semantics: absent means any; otherwise listed, or excluded only by `!value` entries. */
function matchesTarget(manifest: PackageManifest): boolean {
  const allows = (list: string[] | undefined, value: string): boolean => {
    if (!list || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    return list.includes(value) || list.every((entry) => entry.startsWith('!'));
  };
  return allows(manifest.os, TARGET.os) && allows(manifest.cpu, TARGET.cpu) && allows(manifest.libc, TARGET.libc);
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent, up to the repo's node_modules. */
function resolvePackageDir(name: string, fromDir: string, rootNodeModules: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.join(dir, 'node_modules') === rootNodeModules) return undefined;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Bundles one handler with esbuild into memory. */
async function bundleHandler(repoRoot: string, fn: LambdaFunctionName): Promise<Uint8Array> {
  const entry = path.join(repoRoot, 'functions', fn, 'handler.ts');
  if (!fs.existsSync(entry)) throw new PackagingError(`handler entry ${entry} does not exist`, { fn });
  // The options dist/ is built with (scripts/esbuildOptions.ts), for the Lambda's Node 22, with
  // every pure-JS dependency bundled in: the asset carries only the native packages.
  const result = await build({
    ...nodeBuildOptions('node22'),
    absWorkingDir: repoRoot,
    entryPoints: [entry],
    outfile: HANDLER_FILE,
    write: false,
    external: [...NATIVE_PACKAGES],
    sourcemap: false,
  });
  const out = result.outputFiles[0];
  if (!out) throw new PackagingError(`esbuild produced no output for ${fn}`, { fn });
  return out.contents;
}

export async function bundleFunctions(options: BundleOptions = {}): Promise<Record<LambdaFunctionName, FunctionBundle>> {
  const repoRoot = path.resolve(options.repoRoot ?? defaultRepoRoot());
  const outDir = path.resolve(options.outDir ?? path.join(repoRoot, '.headstart', 'bundles'));
  const log = options.log ?? (() => {});
  const backbone = locateBackbone(repoRoot, options.backbone ?? DEFAULT_BACKBONE, options.modelsDir);
  const nativeFiles = nativeRuntimeFiles(repoRoot);
  const nativeHash = hashFiles(nativeFiles);
  const nodeModulesBytes = nativeFiles.reduce((sum, f) => sum + f.bytes, 0);
  const text = options.textBackbone === undefined ? undefined : await locateTextBackbone(repoRoot, options.textBackbone, options.textLocation);
  const models = [...modelFiles(backbone), ...(text?.files ?? [])];
  const modelsHash = hashFiles(models);
  const modelsBytes = models.reduce((sum, f) => sum + f.bytes, 0);

  const bundles = {} as Record<LambdaFunctionName, FunctionBundle>;
  for (const fn of options.functions ?? LAMBDA_FUNCTIONS) {
    const code = await bundleHandler(repoRoot, fn);
    const hash = sha256Of(
      JSON.stringify({
        layout: 1,
        esbuild: esbuildVersion,
        code: sha256Of(code),
        nodeModules: nativeHash,
        models: modelsHash,
      }),
    );
    const dir = path.join(outDir, `${fn}-${hash.slice(0, 16)}`);
    const built = !fs.existsSync(dir);
    if (built) writeAsset(dir, [...nativeFiles, ...models], code);
    const bundle: FunctionBundle = {
      name: fn,
      dir,
      hash,
      bytes: code.byteLength + nodeModulesBytes + modelsBytes,
      parts: { code: code.byteLength, nodeModules: nodeModulesBytes, models: modelsBytes },
      built,
      ...(text ? { textBackbone: text.shipped } : {}),
    };
    if (bundle.bytes >= LAMBDA_UNZIPPED_LIMIT_BYTES) {
      throw new PackagingError(
        `${fn} asset is ${formatMiB(bundle.bytes)} unzipped, over Lambda's 250 MB limit`,
        { fn, bytes: bundle.bytes, parts: bundle.parts },
      );
    }
    log(
      `${fn}: ${formatMiB(bundle.bytes)} unzipped (code ${formatMiB(bundle.parts.code)}, node_modules ${formatMiB(nodeModulesBytes)}, ` +
        `models ${formatMiB(modelsBytes)}${text ? `, text encoder ${text.shipped.id}` : ''}) ${built ? 'built' : 'cached'} at ${path.relative(repoRoot, dir)}`,
    );
    bundles[fn] = bundle;
    pruneOldAssets(outDir, fn, dir);
  }
  return bundles;
}

/** Writes into a temporary sibling and renames, so a folder that exists is always complete. */
function writeAsset(dir: string, files: readonly AssetFile[], code?: Uint8Array): void {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    if (code) fs.writeFileSync(path.join(tmp, HANDLER_FILE), code);
    for (const f of files) {
      const target = path.join(tmp, ...f.to.split('/'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if ('content' in f) fs.writeFileSync(target, f.content);
      else fs.copyFileSync(f.from, target);
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (error) {
      // Another process finished the same content first; its folder is as good as ours.
      if (!fs.existsSync(dir)) throw error;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

/** Keeps the cache from growing without bound: the newest three folders per function stay. */
function pruneOldAssets(outDir: string, kind: string, keep: string): void {
  const pattern = new RegExp(`^${kind}-[0-9a-f]{16}$`);
  const old = fs
    .readdirSync(outDir)
    .filter((name) => pattern.test(name) && path.join(outDir, name) !== keep)
    .map((name) => ({ dir: path.join(outDir, name), mtime: fs.statSync(path.join(outDir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { dir } of old.slice(2)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Every file under a folder, relative and '/'-separated, sorted. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(toPosix(path.relative(root, full)));
      else if (entry.isSymbolicLink()) {
        throw new PackagingError(`symbolic link ${full} in a package; the asset zip would not keep it`, { path: full });
      }
    }
  };
  walk(root);
  return out.sort();
}

function hashFiles(files: readonly AssetFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.to}\0${'content' in f ? sha256Of(f.content) : sha256File(f.from)}\n`);
  return h.digest('hex');
}

/** File hashes, remembered per path, size and mtime: one synth hashes ~75 MB of files once. */
const fileHashCache = new Map<string, string>();

function sha256File(file: string): string {
  const { size, mtimeMs } = fs.statSync(file);
  const key = `${file}\0${size}\0${mtimeMs}`;
  let digest = fileHashCache.get(key);
  if (!digest) {
    digest = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    fileHashCache.set(key, digest);
  }
  return digest;
}

function sha256Of(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(argv: readonly string[]): Promise<void> {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const outDir = arg('--out');
  const backbone = arg('--backbone');
  const textBackbone = arg('--text-backbone');
  const options = { ...(outDir ? { outDir } : {}), ...(backbone ? { backbone } : {}), ...(textBackbone ? { textBackbone } : {}) };
  await bundleFunctions({ ...options, log: (line) => console.log(line) });
  const models = await stageModels(options);
  console.log(
    `trainer models context: ${formatMiB(models.bytes)}${models.textBackbone ? ` (text encoder ${models.textBackbone.id})` : ''} at ${path.relative(process.cwd(), models.dir)}`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
