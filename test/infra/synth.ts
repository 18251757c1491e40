// Builds the pipeline stack for the infra tests, with the same context as `cdk synth` (cdk.json)
// plus the test's own. The stack does not look inside the function assets, so the tests pass two
// tiny folders with fixed hashes instead of the 76 MB packages (test/infra/bundle-functions.test.ts
// covers those); asset staging is off so nothing is copied into a cloud assembly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { FunctionAsset } from '../../infra/lib/constructs/pipeline-function.js';
import type { TrainerImageSource } from '../../infra/lib/constructs/training.js';
import { PipelineStack } from '../../infra/lib/pipeline-stack.js';
import { findTextCatalogueEntry } from '../../src/backbone/catalogue.js';
import { repoDir } from '../helpers/shared.js';

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(repoDir(), 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

let scratchRoot: string | undefined;

/** A scratch folder for this test file (fixtures and cloud assemblies); see {@link removeScratch}. */
function scratch(): string {
  scratchRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'headstart-infra-'));
  return scratchRoot;
}

/** Call from afterAll: removes the scratch folder and forgets what was built in it. */
export function removeScratch(): void {
  if (scratchRoot) fs.rmSync(scratchRoot, { recursive: true, force: true });
  scratchRoot = undefined;
  fixtures = undefined;
  templates.clear();
}

let fixtures: { extract: string; infer: string; models: string } | undefined;
let assemblies = 0;

/** Minimal asset folders, made once per test process. */
export function fixtureAssets(): { extract: string; infer: string; models: string } {
  if (fixtures) return fixtures;
  const root = scratch();
  const made = { extract: path.join(root, 'extract'), infer: path.join(root, 'infer'), models: path.join(root, 'models') };
  for (const dir of Object.values(made)) fs.mkdirSync(dir);
  fs.writeFileSync(path.join(made.extract, 'index.mjs'), 'export const handler = async () => ({ batchItemFailures: [] });\n');
  fs.writeFileSync(path.join(made.infer, 'index.mjs'), 'export const handler = async () => ({ statusCode: 200 });\n');
  fs.writeFileSync(path.join(made.models, 'backbone.onnx'), 'not a model\n');
  fixtures = made;
  return made;
}

export interface SynthOptions {
  context?: Record<string, unknown>;
  /** CDK's built-in CloudFormation validation; slow (a WASM rule engine), so off unless a test is about it. */
  builtinValidation?: boolean;
  /** The trainer image's models folder; default the fixture folder. */
  modelsDir?: string;
  /**
   * The text encoder the fixture assets say they carry; default what context textBackbone names,
   * as infra/bin/app.ts packages them (a name outside the catalogue counts as a registered one).
   */
  assetTextBackbone?: FunctionAsset['textBackbone'] | null;
  /** The text encoder the trainer image's models folder says it carries; default the same as the function assets'. */
  trainerTextBackbone?: TrainerImageSource['textBackbone'] | null;
}

function fixtureTextBackbone(options: SynthOptions): FunctionAsset['textBackbone'] {
  if (options.assetTextBackbone !== undefined) return options.assetTextBackbone ?? undefined;
  const name = options.context?.['textBackbone'];
  return typeof name === 'string' ? { name, registered: findTextCatalogueEntry(name) === undefined } : undefined;
}

/** As infra/bin/app.ts stages them, the trainer's models carry the encoder the functions carry. */
function fixtureTrainerTextBackbone(options: SynthOptions): TrainerImageSource['textBackbone'] {
  if (options.trainerTextBackbone !== undefined) return options.trainerTextBackbone ?? undefined;
  return fixtureTextBackbone(options);
}

export function buildStack(options: SynthOptions = {}): { app: App; stack: PipelineStack } {
  const assets = fixtureAssets();
  const app = new App({
    outdir: path.join(scratch(), `cdk.out-${++assemblies}`),
    context: { ...cdkJsonContext(), 'aws:cdk:disable-asset-staging': true, ...options.context },
    builtinCloudFormationValidation: options.builtinValidation ?? false,
  });
  const text = fixtureTextBackbone(options);
  const withText = text ? { textBackbone: text } : {};
  const trainerText = fixtureTrainerTextBackbone(options);
  const stack = new PipelineStack(app, 'Headstart', {
    functionAssets: { extract: { dir: assets.extract, hash: 'a'.repeat(64), ...withText }, infer: { dir: assets.infer, hash: 'b'.repeat(64), ...withText } },
    trainerImage: {
      repoRoot: repoDir(),
      modelsDir: options.modelsDir ?? assets.models,
      modelsHash: 'c'.repeat(64),
      ...(trainerText ? { textBackbone: trainerText } : {}),
    },
  });
  return { app, stack };
}

const templates = new Map<string, { stack: Stack; template: Template }>();

/** One synthesized template per distinct context, shared by the tests in a file. */
export function synth(context: Record<string, unknown> = {}): { stack: Stack; template: Template } {
  const key = JSON.stringify(context);
  let hit = templates.get(key);
  if (!hit) {
    const { stack } = buildStack({ context });
    hit = { stack, template: Template.fromStack(stack) };
    templates.set(key, hit);
  }
  return hit;
}
