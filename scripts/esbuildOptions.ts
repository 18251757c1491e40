/**
 * The one esbuild configuration that every shipped JavaScript file comes from: the CLI and the
 * trainer (scripts/build-cli.ts -> dist/) and the Lambda functions (scripts/bundle-functions.ts).
 * They differ only in what they leave to node_modules and in the Node version they target.
 */
import type { BuildOptions } from 'esbuild';

/** Packages with native code: never bundled (their .node binaries are loaded from node_modules). */
export const NATIVE_PACKAGES = ['onnxruntime-node', 'sharp'] as const;

/**
 * Runs before the bundle in an ESM output: CommonJS modules bundled into it (the AWS SDK's
 * dependencies, for one) call `require` for Node built-ins, which ESM does not define.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __headstartCreateRequire } from 'node:module'; const require = __headstartCreateRequire(import.meta.url);";

/** Options shared by every build: Node, ESM, readable output (stack traces matter more than bytes). */
export function nodeBuildOptions(target: 'node20' | 'node22'): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target,
    format: 'esm',
    // ESM builds of the AWS SDK and Powertools tree-shake better than their CommonJS builds.
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    minify: false,
    legalComments: 'eof',
    logLevel: 'silent',
  };
}
