// The Lambda packaging (scripts/bundle-functions.ts) on the real handlers, native packages and
// backbone: layout, pruning, size limit, stable content hashes, and that a package works on its
// own (copied outside the repo, so nothing resolves from the repo's node_modules). With a text
// backbone (`-c textBackbone`): its files ship (in the functions and in the trainer's staged
// models, where they load), and the bundled extract handler embeds a text with them against moto_server.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  bundleFunctions,
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  listFiles,
  locateBackbone,
  locateTextBackbone,
  resolveModelsDir,
  stageModels,
  type FunctionBundle,
  type LambdaFunctionName,
} from '../../scripts/bundle-functions.js';
import { S3ObjectStore } from '../../src/adapters/aws/S3ObjectStore.js';
import { backboneId, findTextCatalogueEntry } from '../../src/backbone/catalogue.js';
import { EmbeddingCache } from '../../src/embeddings/EmbeddingCache.js';
import { registerTextBackbone } from '../../src/text/registerTextBackbone.js';
import { TextBackbone } from '../../src/text/TextBackbone.js';
import { createExtractionResources, createIndexTable, motoDynamoClient, motoS3Client, motoSqsClient, startMoto } from '../helpers/moto.js';
import { receiveBatch, sqsEvent } from '../helpers/reliability.js';
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

  it('stages the model files alone for the trainer image, keyed by their content', async () => {
    const staged = await stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() });
    expect(listFiles(staged.dir)).toEqual(['imagenet_classes.txt', BACKBONE_FILE]);
    expect(staged.textBackbone).toBeUndefined();
    expect((await stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() })).hash).toBe(staged.hash);
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

describe('with a text backbone (context textBackbone)', () => {
  const TINY = findTextCatalogueEntry('tiny-bert-random')!;
  const TEXT_FILES = { 'models/text/tiny-bert-random.onnx': TINY.model.sha256, 'models/text/all-MiniLM-L6-v2/tokenizer.json': TINY.tokenizer.sha256 };
  let textBundles: Record<LambdaFunctionName, FunctionBundle>;
  const sha256Of = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

  beforeAll(async () => {
    textBundles = await bundleFunctions({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), textBackbone: 'tiny-bert-random', textLocation: { modelsDir: modelsDir() } });
  });

  it('ships the encoder and its tokenizer.json (sha256-verified) in both functions, beside the image backbone, and says so', () => {
    for (const fn of ['extract', 'infer'] as const) {
      const bundle = textBundles[fn];
      expect(bundle.textBackbone).toEqual({ name: 'tiny-bert-random', id: backboneId(TINY), registered: false });
      for (const [rel, sha] of Object.entries(TEXT_FILES)) expect(sha256Of(path.join(bundle.dir, rel)), rel).toBe(sha);
      expect(listFiles(bundle.dir)).toContain(`models/${BACKBONE_FILE}`);
      expect(listFiles(bundle.dir).filter((f) => f.startsWith('backbones/'))).toEqual([]); // a catalogue entry is found by name
      // A different content hash, so the deployed function is replaced; the size still counts every byte.
      expect(bundle.hash).not.toBe(bundles[fn].hash);
      expect(bundle.bytes).toBe(listFiles(bundle.dir).reduce((sum, rel) => sum + fs.statSync(path.join(bundle.dir, rel)).size, 0));
    }
  });

  it('ships no text encoder without it (the TF-IDF path, as before)', () => {
    for (const fn of ['extract', 'infer'] as const) {
      expect(bundles[fn].textBackbone).toBeUndefined();
      expect(listFiles(bundles[fn].dir).filter((f) => f.startsWith('models/text/') || f.startsWith('backbones/'))).toEqual([]);
    }
  });

  it('the bundled extract handler, outside the repo, embeds a .txt from S3 with the shipped encoder (moto_server)', async () => {
    const task = path.join(tempDir('headstart-extract-text-'), 'task');
    fs.cpSync(textBundles.extract.dir, task, { recursive: true });
    const moto = await startMoto();
    const s3 = motoS3Client(moto.endpoint);
    const sqs = motoSqsClient(moto.endpoint);
    try {
      const resources = await createExtractionResources(s3, sqs);
      const table = await createIndexTable(motoDynamoClient(moto.endpoint));
      await receiveBatch(sqs, resources.queueUrl); // the s3:TestEvent, left to time out
      const text = 'I am still waiting on my card?';
      await s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: 'datasets/inquiries/card/0.txt', Body: text, ContentType: 'text/plain' }));
      const messages = (await receiveBatch(sqs, resources.queueUrl)).filter((m) => m.Body?.includes('0.txt'));
      expect(messages).toHaveLength(1);
      fs.writeFileSync(path.join(task, 'event.json'), JSON.stringify(sqsEvent(messages, resources.queueArn)));
      fs.writeFileSync(
        path.join(task, 'probe.mjs'),
        `import { readFileSync } from 'node:fs';
         const { handler } = await import('./index.mjs');
         const response = await handler(JSON.parse(readFileSync('event.json', 'utf8')), { functionName: 'extract', awsRequestId: 'probe' });
         console.log('RESPONSE ' + JSON.stringify(response));`,
      );
      const output = execFileSync(process.execPath, ['probe.mjs'], {
        cwd: task,
        // What the stack sets for `-c textBackbone=tiny-bert-random`, with the models folder of the copy.
        env: {
          PATH: process.env['PATH'] ?? '',
          BUCKET: resources.bucket,
          TABLE: table,
          TEXT_BACKBONE: 'tiny-bert-random',
          HEADSTART_MODELS: path.join(task, 'models'),
          AWS_ENDPOINT_URL_S3: moto.endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
          S3_FORCE_PATH_STYLE: 'true',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
          POWERTOOLS_LOG_LEVEL: 'ERROR',
          AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1',
          NODE_NO_WARNINGS: '1',
        },
        encoding: 'utf8',
      });
      const response = output.split('\n').find((line) => line.startsWith('RESPONSE '));
      expect(JSON.parse(response!.slice('RESPONSE '.length))).toEqual({ batchItemFailures: [] });
      const vector = await new EmbeddingCache(new S3ObjectStore(s3, resources.bucket)).get(backboneId(TINY), createHash('sha256').update(text).digest('hex'));
      expect(vector?.length).toBe(32);
      const reference = JSON.parse(fs.readFileSync(path.join(modelsDir(), 'text', 'tiny-bert-reference.json'), 'utf8')) as { cases: { text: string; embedding: number[] }[] };
      const expected = reference.cases.find((c) => c.text === text)!.embedding;
      vector!.forEach((v, k) => expect(Math.abs(v - expected[k]!)).toBeLessThan(1e-5));
    } finally {
      s3.destroy();
      sqs.destroy();
      await moto.stop();
    }
  });

  it('ships a registered encoder under models/text/<name>/ with its entry, which loads there with the same id', async () => {
    const home = tempDir('headstart-registered-');
    const backbonesDir = path.join(home, 'backbones');
    const registered = await registerTextBackbone(path.join(modelsDir(), 'text', 'tiny-bert-random.onnx'), { name: 'my-encoder', tokenizer: path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json') }, backbonesDir);
    const located = await locateTextBackbone(repoDir(), 'my-encoder', { backbonesDir });
    expect(located.shipped).toEqual({ name: 'my-encoder', id: registered.id, registered: true });
    expect(located.files.map((f) => f.to).sort()).toEqual(['backbones/text/my-encoder.json', 'models/text/my-encoder/tiny-bert-random.onnx', 'models/text/my-encoder/tokenizer.json']);
    // Laid out as the asset holds them, then loaded as the function does (HEADSTART_MODELS, HEADSTART_BACKBONES).
    const task = tempDir('headstart-registered-task-');
    for (const f of located.files) {
      const target = path.join(task, f.to);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if ('content' in f) fs.writeFileSync(target, f.content);
      else fs.copyFileSync(f.from, target);
    }
    fs.rmSync(home, { recursive: true, force: true }); // the shipped entry must not point back at this machine
    const loaded = await TextBackbone.load('my-encoder', { modelsDir: path.join(task, 'models'), backbonesDir: path.join(task, 'backbones') });
    try {
      expect(loaded.id).toBe(registered.id);
      expect((await loaded.embedTexts(['hello']))[0]?.length).toBe(32);
    } finally {
      await loaded.release();
    }
  });

  it('stages the encoder and tokenizer.json for the trainer image at the paths the entry names, and the image changes with them', async () => {
    const without = await stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir() });
    const staged = await stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), textBackbone: 'tiny-bert-random', textLocation: { modelsDir: modelsDir() } });
    expect(staged.textBackbone).toEqual({ name: 'tiny-bert-random', id: backboneId(TINY), registered: false });
    // The staged folder is the models folder itself (the image's HEADSTART_MODELS): no models/ prefix.
    expect(listFiles(staged.dir)).toEqual(['imagenet_classes.txt', BACKBONE_FILE, 'text/all-MiniLM-L6-v2/tokenizer.json', 'text/tiny-bert-random.onnx'].sort());
    for (const [rel, sha] of Object.entries(TEXT_FILES)) expect(sha256Of(path.join(staged.dir, rel.slice('models/'.length))), rel).toBe(sha);
    expect(staged.hash).not.toBe(without.hash);
    expect(staged.dir).not.toBe(without.dir);
    expect(staged.bytes).toBe(listFiles(staged.dir).reduce((sum, rel) => sum + fs.statSync(path.join(staged.dir, rel)).size, 0));
    // What the trainer does with TEXT_BACKBONE and HEADSTART_MODELS=<the staged folder>.
    const loaded = await TextBackbone.load('tiny-bert-random', { modelsDir: staged.dir });
    try {
      expect(loaded.id).toBe(backboneId(TINY));
      expect((await loaded.embedTexts(['hello']))[0]?.length).toBe(32);
    } finally {
      await loaded.release();
    }
  });

  it('stages a registered encoder under text/<name>/ with its entry under backbones/ (HEADSTART_BACKBONES=<models>/backbones)', async () => {
    const home = tempDir('headstart-registered-staged-');
    const backbonesDir = path.join(home, 'backbones');
    const registered = await registerTextBackbone(path.join(modelsDir(), 'text', 'tiny-bert-random.onnx'), { name: 'my-encoder', tokenizer: path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json') }, backbonesDir);
    const staged = await stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), textBackbone: 'my-encoder', textLocation: { backbonesDir } });
    expect(staged.textBackbone).toEqual({ name: 'my-encoder', id: registered.id, registered: true });
    expect(listFiles(staged.dir).filter((f) => f.startsWith('text/') || f.startsWith('backbones/'))).toEqual([
      'backbones/text/my-encoder.json',
      'text/my-encoder/tiny-bert-random.onnx',
      'text/my-encoder/tokenizer.json',
    ]);
    fs.rmSync(home, { recursive: true, force: true }); // the staged entry must not point back at this machine
    const loaded = await TextBackbone.load('my-encoder', { modelsDir: staged.dir, backbonesDir: path.join(staged.dir, 'backbones') });
    try {
      expect(loaded.id).toBe(registered.id);
    } finally {
      await loaded.release();
    }
  });

  it('fails packaging with the missing file and how to get it (npm run fetch-models -- minilm-l6-v2)', async () => {
    const empty = tempDir('headstart-notext-');
    await expect(locateTextBackbone(repoDir(), 'minilm-l6-v2', { modelsDir: empty })).rejects.toThrow(
      new RegExp(`its encoder ${path.join(empty, 'text', 'all-MiniLM-L6-v2', 'model_quantized.onnx')} is missing.*npm run fetch-models -- minilm-l6-v2.*Looked in ${empty}\\.`),
    );
    await expect(bundleFunctions({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), textBackbone: 'minilm-l6-v2', textLocation: { modelsDir: empty } })).rejects.toThrow(/npm run fetch-models -- minilm-l6-v2/);
    await expect(stageModels({ repoRoot: repoDir(), outDir, modelsDir: modelsDir(), textBackbone: 'minilm-l6-v2', textLocation: { modelsDir: empty } })).rejects.toThrow(/npm run fetch-models -- minilm-l6-v2/);
  });

  it('refuses a text backbone that is neither in the catalogue nor registered, and a file with another sha256', async () => {
    await expect(locateTextBackbone(repoDir(), 'nope', { backbonesDir: tempDir('headstart-nobackbones-') })).rejects.toThrow(/unknown text backbone "nope".*minilm-l6-v2, tiny-bert-random/);
    const fake = tempDir('headstart-faketext-');
    fs.mkdirSync(path.join(fake, 'text', 'all-MiniLM-L6-v2'), { recursive: true });
    fs.writeFileSync(path.join(fake, 'text', 'tiny-bert-random.onnx'), 'not the encoder');
    fs.copyFileSync(path.join(modelsDir(), 'text', 'all-MiniLM-L6-v2', 'tokenizer.json'), path.join(fake, 'text', 'all-MiniLM-L6-v2', 'tokenizer.json'));
    await expect(locateTextBackbone(repoDir(), 'tiny-bert-random', { modelsDir: fake })).rejects.toThrow(/is not the expected encoder \(sha256 [0-9a-f]{64}, expected 4220e6be/);
  });
});
