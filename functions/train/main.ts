// The AWS Batch training job's entry point (see functions/train/Dockerfile). Wiring only: the
// work is in src/edges/batch/trainJob.ts and src/pipeline/train.ts.
import { trainJobFromEnv } from '../../src/edges/batch/trainJob.js';

process.exitCode = await trainJobFromEnv();
