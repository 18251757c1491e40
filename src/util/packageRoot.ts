/**
 * The repository (package) root seen from a module, whether that module runs as TypeScript from
 * src/ or compiled into dist/ (a bundle flattens the folder depth, so `'..', '..'` would point
 * somewhere else there): the nearest folder above it with a package.json. Falls back to the
 * module's own folder where there is none (a Lambda bundle, which sets every path it needs).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(moduleUrl: string): string {
  const start = path.dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}
