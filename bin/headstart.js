#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx's loader, so a fresh clone needs no
// build step: `npm install && npx headstart ...` works.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
