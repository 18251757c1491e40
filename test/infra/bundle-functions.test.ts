// The Lambda packaging (scripts/bundle-functions.ts) on the real handlers, native packages and
// backbone: layout, pruning, size limit, stable content hashes, and that a package works on its
// own (copied outside the repo, so nothing resolves from the repo's node_modules).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleFunctions,
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  listFiles,
  locateBackbone,
  resolveModelsDir,
  stageModels,
  type FunctionBundle,
  type LambdaFunctionName,
} from '../../scripts/bundle-functions.js';
import { imagesDir, modelsDir, repoDir } from '../helpers/shared.js';

const BACKBONE_FILE = 'mobilenetv2-12-fp32-embed.onnx';
const BACKBONE_SHA256 = '0a4188c54960d764d85608930b03d1bfc45a213a426fbc80c4d93615c3a676db';

let outDir: string;
let bundles: Record<LambdaFunctionName, FunctionBundle>;
const scratch: string[] = [];

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

beforeAll(async () => {
  outDir = tempDir('headstart-bundles-');
  bundles = await bundleFunctions({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), log: (line) => console.log(line) });
});

afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(['extract', 'infer'] as const)('the %s package', (fn) => {
  const files = (): string[] => listFiles(bundles[fn].dir);

  it('stays under the 250 MB unzipped limit, and its reported size is what is on disk', () => {
    const onDisk = files().reduce((sum, rel) => sum + fs.statSync(path.join(bundles[fn].dir, rel)).size, 0);
    expect(bundles[fn].bytes).toBe(onDisk);
    expect(onDisk).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES);
  });

  it('has the bundled handler and the sha256-verified backbone under models/', () => {
    expect(files()).toContain('index.mjs');
    const model = fs.readFileSync(path.join(bundles[fn].dir, 'models', BACKBONE_FILE));
    expect(createHash('sha256').update(model).digest('hex')).toBe(BACKBONE_SHA256);
    expect(files()).toContain('models/imagenet_classes.txt');
  });

  it('ships onnxruntime-node and sharp with their run-time dependencies, linux-x64 binaries only', () => {
    const packages = new Set(files().filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/').slice(1, f.split('/')[1]!.startsWith('@') ? 3 : 2).join('/')));
    expect([...packages].sort()).toEqual(
      ['@img/colour', '@img/sharp-libvips-linux-x64', '@img/sharp-linux-x64', 'detect-libc', 'onnxruntime-common', 'onnxruntime-node', 'semver', 'sharp'].sort(),
    );
    const ortBinaries = files().filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
    expect(ortBinaries.length).toBeGreaterThan(0);
    for (const f of ortBinaries) expect(f).toMatch(/^node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\//);
    expect(files()).toContain('node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64.node');
  });

  it('leaves out type declarations, source maps and TypeScript sources', () => {
    expect(files().filter((f) => /\.(d\.ts|map|ts)$/.test(f))).toEqual([]);
  });
});

describe('packaging', () => {
  it('reuses the cached folders on an unchanged tree (same content hash, nothing rebuilt)', async () => {
    const again = await bundleFunctions({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() });
    for (const fn of ['extract', 'infer'] as const) {
      expect(again[fn].hash).toBe(bundles[fn].hash);
      expect(again[fn].dir).toBe(bundles[fn].dir);
      expect(again[fn].built).toBe(false);
    }
  });

  it('gives the functions different content hashes (their code differs)', () => {
    expect(bundles.extract.hash).not.toBe(bundles.infer.hash);
  });

  it('works outside the repository: onnxruntime runs the backbone, sharp decodes a photo, the handlers load', () => {
    const copies = Object.fromEntries(
      (['extract', 'infer'] as const).map((fn) => {
        const dir = path.join(tempDir(`headstart-${fn}-`), 'task');
        fs.cpSync(bundles[fn].dir, dir, { recursive: true });
        return [fn, dir];
      }),
    ) as Record<LambdaFunctionName, string>;
    const photo = path.join(imagesDir(), 'dog.jpg');
    const probe = `
      import * as ort from 'onnxruntime-node';
      import sharp from 'sharp';
      const session = await ort.InferenceSession.create('./models/${BACKBONE_FILE}');
      const out = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 224 * 224), [1, 3, 224, 224]) });
      const image = await sharp(process.env.PHOTO).resize(224, 224).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const { handler } = await import('./index.mjs');
      console.log(JSON.stringify({ embedding: out.embedding.dims, pixels: image.info.width * image.info.height * image.info.channels, handler: typeof handler }));
    `;
    for (const fn of ['extract', 'infer'] as const) {
      fs.writeFileSync(path.join(copies[fn], 'probe.mjs'), probe);
      const output = execFileSync(process.execPath, ['probe.mjs'], {
        cwd: copies[fn],
        // What the stack sets, minus AWS credentials: loading the handlers makes no AWS call.
        env: {
          PATH: process.env['PATH'] ?? '',
          PHOTO: photo,
          BUCKET: 'headstart-test',
          TABLE: 'headstart-index-test',
          TRAIN_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/test',
          TRAIN_JOB_DEFINITION: 'arn:aws:batch:us-east-1:123456789012:job-definition/test:1',
          HEADSTART_MODELS: path.join(copies[fn], 'models'),
          AWS_REGION: 'us-east-1',
          NODE_NO_WARNINGS: '1',
        },
        encoding: 'utf8',
      });
      expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual({ embedding: [1, 1280], pixels: 224 * 224 * 3, handler: 'function' });
    }
  });

  it('stages the model files alone for the trainer image, keyed by their content', () => {
    const staged = stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() });
    expect(listFiles(staged.dir)).toEqual(['imagenet_classes.txt', BACKBONE_FILE]);
    expect(stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() }).hash).toBe(staged.hash);
  });
});

describe('backbone checks', () => {
  it('refuses a backbone file whose sha256 is not the catalogue one', () => {
    const dir = tempDir('headstart-badmodel-');
    fs.writeFileSync(path.join(dir, BACKBONE_FILE), 'not the model');
    expect(() => locateBackbone(repoDir(), 'mobilenetv2-12-fp32-embed', dir)).toThrow(/has sha256 [0-9a-f]{64}, expected 0a4188c5/);
  });

  it('names the folders it looked in, and how to get the file, when the backbone is missing', () => {
    const empty = tempDir('headstart-nomodel-');
    const saved = process.env['HEADSTART_MODELS'];
    process.env['HEADSTART_MODELS'] = empty;
    try {
      expect(() => resolveModelsDir(repoDir())).toThrow(new RegExp(`not found; looked in ${empty}.*fetch-models.*HEADSTART_MODELS`));
    } finally {
      if (saved === undefined) delete process.env['HEADSTART_MODELS'];
      else process.env['HEADSTART_MODELS'] = saved;
    }
  });

  it('refuses a backbone name the catalogue does not know', () => {
    expect(() => locateBackbone(repoDir(), 'resnet-9000', modelsDir())).toThrow(/unknown backbone "resnet-9000"/);
  });
});
