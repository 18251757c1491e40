#!/usr/bin/env node
// Runs the CLI compiled by `npm run build` (scripts/build-cli.ts), which `npm install` and `npm ci`
// run through the `prepare` script: plain JavaScript, so nothing is transpiled at start-up.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('headstart: the CLI is not built (dist/cli.js is missing); run `npm run build` (or `npm install`) in the headstart folder\n');
  process.exit(1);
}
await import(cli.href);
