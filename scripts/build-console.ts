/**
 * Builds the web console (console/) into dist/console/, which `headstart serve` serves at `/`:
 *
 *   index.html   console/index.html as is
 *   app.js       console/src/main.ts and its modules, bundled and minified for the browser (no
 *                runtime dependencies, nothing fetched from anywhere else)
 *   app.css      console/styles.css, minified
 *
 * Usage: npx tsx scripts/build-console.ts [--out DIR] [--check]   (--check type-checks console/ first)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function defaultConsoleOut(root = repoRoot): string {
  return path.join(root, 'dist', 'console');
}

/** Type-checks console/ with its own tsconfig (DOM types, no Node). Throws with tsc's output. */
export function checkConsole(root = repoRoot): void {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'console', 'tsconfig.json')], { stdio: 'pipe' });
}

export async function buildConsole(outDir = defaultConsoleOut(), root = repoRoot): Promise<{ files: Record<string, number> }> {
  // Written beside and swapped in, so a running server never reads half a build.
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await build({
    absWorkingDir: root,
    entryPoints: { app: path.join(root, 'console', 'src', 'main.ts'), 'app-style': path.join(root, 'console', 'styles.css') },
    outdir: tmp,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    tsconfig: path.join(root, 'console', 'tsconfig.json'),
  });
  fs.renameSync(path.join(tmp, 'app-style.css'), path.join(tmp, 'app.css'));
  fs.copyFileSync(path.join(root, 'console', 'index.html'), path.join(tmp, 'index.html'));
  const old = `${outDir}.old-${process.pid}`;
  if (fs.existsSync(outDir)) fs.renameSync(outDir, old);
  fs.renameSync(tmp, outDir);
  fs.rmSync(old, { recursive: true, force: true });
  const files = Object.fromEntries(fs.readdirSync(outDir).sort().map((name) => [name, fs.statSync(path.join(outDir, name)).size]));
  return { files };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? path.resolve(args[outIndex + 1] ?? '') : defaultConsoleOut();
  const started = performance.now();
  try {
    if (args.includes('--check')) checkConsole();
    const { files } = await buildConsole(out);
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    process.stdout.write(`built ${path.relative(process.cwd(), out) || out} (${Object.entries(files).map(([n, b]) => `${n} ${(b / 1024).toFixed(1)} KiB`).join(', ')}; ${(total / 1024).toFixed(1)} KiB) in ${Math.round(performance.now() - started)} ms\n`);
  } catch (error) {
    const e = error as { stdout?: Buffer; message?: string };
    console.error(`console build failed: ${e.stdout?.toString() || e.message || String(error)}`);
    process.exitCode = 1;
  }
}
