import path from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests read the real models, datasets and photos from ../shared unless HEADSTART_SHARED or
// HEADSTART_MODELS point elsewhere; they never download anything.
const shared = path.resolve(process.env['HEADSTART_SHARED'] ?? path.join(import.meta.dirname, '..', 'shared'));

// HEADSTART_TEST_JSON=<file> adds vitest's JSON report beside the default one (.ci/run reads the
// pass/fail counts from it while calling plain `npm test`, the README's command).
const jsonReport = process.env['HEADSTART_TEST_JSON'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    ...(jsonReport ? { reporters: ['default', 'json'], outputFile: { json: path.resolve(jsonReport) } } : {}),
    env: {
      HEADSTART_SHARED: shared,
      HEADSTART_MODELS: path.resolve(process.env['HEADSTART_MODELS'] ?? path.join(shared, 'models')),
    },
    // The integration tests run a real backbone and real S3/SQS wire protocol; give them room on a 2-core CI box.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
