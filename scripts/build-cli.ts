/**
 * Builds the JavaScript that `npx headstart` (bin/headstart.js) and the Batch trainer image run:
 *
 *   dist/cli.js         src/cli/main.ts
 *   dist/train.js       functions/train/main.ts
 *   dist/chunks/*.js    code shared by both, and each command's heavy half (onnxruntime, sharp, the
 *                       AWS SDK), which esbuild splits at the CLI's dynamic imports so `--help`
 *                       loads none of it
 *   dist/build.json     the sha256 of every source file that went in, for {@link cliBuildIsFresh}
 *
 * npm packages stay in node_modules (the CLI and the image both have them installed); only the
 * repository's own TypeScript is compiled, with the options the Lambda bundles use
 * (scripts/esbuildOptions.ts).
 *
 * `npm install` / `npm ci` run it through the `prepare` script. Usage: npx tsx scripts/build-cli.ts [--if-stale]
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';
import { nodeBuildOptions } from './esbuildOptions.js';

/** Bumped when the layout or the options below change, so an older dist/ counts as stale. */
const BUILD_LAYOUT = 1;

export const ENTRY_POINTS = { cli: 'src/cli/main.ts', train: 'functions/train/main.ts' } as const;

interface BuildStamp {
  layout: number;
  esbuild: string;
  /** Repository-relative input path -> sha256 of its contents. */
  inputs: Record<string, string>;
}

function defaultRepoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function stampPath(repoRoot: string): string {
  return path.join(repoRoot, 'dist', 'build.json');
}

/**
 * True when dist/ was built from the sources as they are now: same layout, same esbuild, and
 * every input file unchanged. (A new file can only enter the build through an import, which
 * changes a file that is already an input.)
 */
export function cliBuildIsFresh(repoRoot = defaultRepoRoot()): boolean {
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampPath(repoRoot), 'utf8')) as BuildStamp;
  } catch {
    return false;
  }
  if (stamp.layout !== BUILD_LAYOUT || stamp.esbuild !== esbuildVersion) return false;
  for (const name of Object.keys(ENTRY_POINTS)) if (!fs.existsSync(path.join(repoRoot, 'dist', `${name}.js`))) return false;
  return Object.entries(stamp.inputs).every(([rel, digest]) => {
    const file = path.join(repoRoot, rel);
    return fs.existsSync(file) && sha256File(file) === digest;
  });
}

/** Compiles the entry points into a fresh dist/ (written beside and swapped in, so a reader never sees half a build). */
export async function buildCli(repoRoot = defaultRepoRoot()): Promise<{ files: number; bytes: number }> {
  const dist = path.join(repoRoot, 'dist');
  const tmp = path.join(repoRoot, `.dist-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    ...nodeBuildOptions('node20'),
    absWorkingDir: repoRoot,
    entryPoints: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([name, entry]) => [name, path.join(repoRoot, entry)])),
    outdir: tmp,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    packages: 'external',
    sourcemap: 'linked',
    metafile: true,
  });
  const inputs = Object.fromEntries(
    Object.keys(result.metafile.inputs)
      .filter((rel) => !rel.startsWith('node_modules/'))
      .sort()
      .map((rel) => [rel, sha256File(path.join(repoRoot, rel))]),
  );
  const stamp: BuildStamp = { layout: BUILD_LAYOUT, esbuild: esbuildVersion, inputs };
  fs.writeFileSync(path.join(tmp, 'build.json'), `${JSON.stringify(stamp, null, 1)}\n`);
  const old = `${dist}.old-${process.pid}`;
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(tmp, dist);
  fs.rmSync(old, { recursive: true, force: true });
  const outputs = Object.values(result.metafile.outputs);
  return { files: outputs.length, bytes: outputs.reduce((sum, o) => sum + o.bytes, 0) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && cliBuildIsFresh()) {
    process.stdout.write('dist/ is up to date\n');
  } else {
    const started = performance.now();
    buildCli()
      .then(({ files, bytes }) => process.stdout.write(`built dist/ (${files} files, ${(bytes / 1024).toFixed(0)} KiB) in ${Math.round(performance.now() - started)} ms\n`))
      .catch((error: unknown) => {
        console.error(`build failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 1;
      });
  }
}
