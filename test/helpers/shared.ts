// Where tests find the read-only real data (models, datasets, images).
// HEADSTART_SHARED points at the shared folder; HEADSTART_MODELS overrides the models folder alone.
// Default: ../shared next to the repo root, which is how the checkout is laid out on dev machines and CI.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function repoDir(): string {
  return repoRoot;
}

export function sharedDir(): string {
  const fromEnv = process.env['HEADSTART_SHARED'];
  return fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot, '..', 'shared');
}

export function modelsDir(): string {
  const fromEnv = process.env['HEADSTART_MODELS'];
  return fromEnv ? path.resolve(fromEnv) : path.join(sharedDir(), 'models');
}

export function datasetsDir(): string {
  return path.join(sharedDir(), 'datasets');
}

export function imagesDir(): string {
  return path.join(sharedDir(), 'images');
}
