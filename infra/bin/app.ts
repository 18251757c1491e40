/**
 * The CDK app (cdk.json: `npx tsx infra/bin/app.ts`). It packages the Lambda functions first
 * (scripts/bundle-functions.ts: esbuild plus the native packages and the backbone, cached by
 * content hash), so `cdk synth` needs neither Docker nor the network; the trainer image is only
 * built by `cdk deploy` (or cdk-assets publish), which does need Docker.
 *
 * The stack is environment-agnostic on purpose (no `env`): with an account and region the VPC
 * would look up availability zones through the AWS API during synth. `cdk deploy` takes both from
 * the credentials in use.
 *
 * Context flags: see infra/lib/config.ts (auth=jwt, spot=true, destroy=true, ...).
 */
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { bundleFunctions, defaultRepoRoot, PackagingError, stageModels } from '../../scripts/bundle-functions.js';
import { ConfigError, pipelineConfig } from '../lib/config.js';
import { PipelineStack } from '../lib/pipeline-stack.js';

/** A packaging or context problem is the user's to fix: its message alone (it names the file or key and the fix), not a stack trace. */
function failSynth(error: unknown): never {
  if (error instanceof PackagingError || error instanceof ConfigError) {
    process.stderr.write(`synth failed: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

function orFailSynth<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    return failSynth(error);
  }
}

const app = new App();
const repoRoot = defaultRepoRoot();
const { backbone, textBackbone } = orFailSynth(() => pipelineConfig(app.node));
// -c textBackbone=<name>: the encoder and tokenizer.json ship in both functions and in the trainer
// image (a missing file fails synth here, naming it and how to get it); without it none carries one.
const text = textBackbone ? { textBackbone } : {};
const models = await stageModels({ repoRoot, backbone, ...text }).catch(failSynth);
const bundles = await bundleFunctions({
  repoRoot,
  backbone,
  ...text,
  // The folder stageModels took the backbone from, not its staged copy: a copy has another path
  // and mtime, so the 14 MB model would be hashed a second time for the same content.
  modelsDir: path.dirname(models.backbone.path),
  log: (line) => process.stderr.write(`[bundle] ${line}\n`),
}).catch(failSynth);

orFailSynth(
  () =>
    new PipelineStack(app, 'Headstart', {
      description: 'headstart: image classifiers from a few labelled images (S3 -> SQS -> Lambda, Batch GPU trainer, HTTP API)',
      functionAssets: { extract: bundles.extract, infer: bundles.infer },
      trainerImage: { repoRoot, modelsDir: models.dir, modelsHash: models.hash, ...(models.textBackbone ? { textBackbone: models.textBackbone } : {}) },
    }),
);

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
