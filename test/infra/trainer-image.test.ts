// The trainer image as the CDK hands it to Docker: the build context after /.dockerignore (staged
// exactly as `cdk deploy` stages it), the asset manifest entry, and the Dockerfile's essentials.
// Docker itself does not run here; the image is built at deploy time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAINER_COMMAND, TRAINER_MODELS_DIR } from '../../infra/lib/constructs/training.js';
import { listFiles } from '../../scripts/bundle-functions.js';
import { repoDir } from '../helpers/shared.js';
import { buildStack, fixtureAssets, removeScratch } from './synth.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

let image: { hash: string; source: Json; contextDir: string };

/** Synthesizes with asset staging on and returns the trainer image's manifest entry and staged context. */
function synthImage(): { hash: string; source: Json; contextDir: string } {
  const { app } = buildStack({ context: { 'aws:cdk:disable-asset-staging': false } });
  const assembly = app.synth();
  const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'Headstart.assets.json'), 'utf8'));
  const entries = Object.entries<Json>(manifest.dockerImages);
  expect(entries).toHaveLength(1);
  const [hash, entry] = entries[0]!;
  return { hash, source: entry.source, contextDir: path.join(assembly.directory, entry.source.directory) };
}

beforeAll(() => {
  image = synthImage();
});

afterAll(removeScratch);

describe('the trainer build context', () => {
  it('holds the package files, the build scripts, src/ and functions/', () => {
    const files = listFiles(image.contextDir);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build-cli.ts', 'scripts/esbuildOptions.ts', 'src/errors.ts', 'functions/train/main.ts', 'functions/train/Dockerfile']) {
      expect(files).toContain(f);
    }
  });

  it('keeps node_modules, dist, cdk.out, .headstart, .git, models, tests, benchmarks and the other scripts out', () => {
    const leaked = listFiles(image.contextDir).filter((f) =>
      /^(node_modules|dist|cdk\.out|\.headstart|\.git|models|test|bench|infra)\//.test(f) ||
      (f.startsWith('scripts/') && !['scripts/build-cli.ts', 'scripts/esbuildOptions.ts'].includes(f)) ||
      /(^|\/)node_modules\//.test(f) ||
      f.endsWith('.test.ts'),
    );
    expect(leaked).toEqual([]);
  });

  it('is small (what docker build sends; measured, must stay under 5 MiB)', () => {
    const files = listFiles(image.contextDir);
    const bytes = files.reduce((sum, f) => sum + fs.statSync(path.join(image.contextDir, f)).size, 0);
    console.log(`trainer build context: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`);
    expect(bytes).toBeLessThan(5 * 1024 * 1024);
  });
});

describe('the trainer image asset', () => {
  it('builds functions/train/Dockerfile for linux/amd64 with the models folder as the named context `models`', () => {
    expect(image.source).toMatchObject({
      dockerFile: 'functions/train/Dockerfile',
      platform: 'linux/amd64',
      dockerBuildContexts: { models: fixtureAssets().models },
    });
  });

  it('keeps its hash when only the models folder path changes (the hash follows the models content)', () => {
    const otherFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'headstart-models-elsewhere-'));
    const { app } = buildStack({ context: { 'aws:cdk:disable-asset-staging': true }, modelsDir: otherFolder });
    const elsewhere = JSON.parse(fs.readFileSync(path.join(app.synth().directory, 'Headstart.assets.json'), 'utf8'));
    expect(Object.values<Json>(elsewhere.dockerImages)[0].source.dockerBuildContexts.models).toBe(otherFolder);
    expect(Object.keys(elsewhere.dockerImages)).toEqual([image.hash]);
    fs.rmSync(otherFolder, { recursive: true, force: true });
  });
});

describe('functions/train/Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(repoDir(), 'functions', 'train', 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));

  it('starts from a CUDA 12 runtime image with cuDNN 9 and takes Node 22 from the official image', () => {
    expect(dockerfile).toMatch(/^ARG CUDA_IMAGE=nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu22\.04$/m);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-/m);
    expect(instructions.filter((l) => l.startsWith('FROM '))).toEqual(['FROM ${NODE_IMAGE} AS node', 'FROM ${NODE_IMAGE} AS build', 'FROM ${CUDA_IMAGE}']);
  });

  it('compiles the trainer with the repo build and runs the compiled file, not TypeScript', () => {
    expect(instructions).toContain('RUN npx tsx scripts/build-cli.ts && test -f dist/train.js');
    expect(instructions).toContain('COPY --from=build /build/dist ./dist');
    expect(TRAINER_COMMAND).toEqual(['node', 'dist/train.js']);
  });

  it('installs production dependencies with the onnxruntime CUDA 12 execution provider, and checks it arrived', () => {
    const install = instructions.find((l) => l.includes('npm ci --omit=dev'));
    expect(install).toMatch(/npm ci --omit=dev --ignore-scripts .*&& ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
    expect(install).toMatch(/test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/);
  });

  it('ships the models where the job definition points and runs the command the job definition runs, as a non-root user', () => {
    expect(instructions).toContain(`COPY --from=models . ${TRAINER_MODELS_DIR}/`);
    expect(instructions).toContain(`ENV HEADSTART_MODELS=${TRAINER_MODELS_DIR}`);
    expect(instructions.at(-1)).toBe(`CMD ${JSON.stringify(TRAINER_COMMAND).replace(/","/g, '", "')}`);
    const user = instructions.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/root|\b0\b/);
  });
});
