/**
 * Runs once before any test file: the CLI tests spawn bin/headstart.js, which runs the compiled
 * dist/ (scripts/build-cli.ts). When a source file changed since the last build, rebuild first, so
 * a test never exercises yesterday's CLI.
 */
import { buildCli, cliBuildIsFresh } from '../scripts/build-cli.js';

export default async function setup(): Promise<void> {
  if (cliBuildIsFresh()) return;
  const { files } = await buildCli();
  process.stdout.write(`globalSetup: dist/ was stale; rebuilt it (${files} files)\n`);
}
