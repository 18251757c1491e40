/**
 * Test doubles for the core's ports, built on the real local adapters where possible.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidImageError } from '../../src/errors.js';
import { FsObjectStore } from '../../src/adapters/local/FsObjectStore.js';
import type { Embedder } from '../../src/pipeline/extract.js';
import { DescribeJobsCommand, SubmitJobCommand, type BatchClient, type JobDetail } from '@aws-sdk/client-batch';

/**
 * A deterministic embedder for pipeline tests that do not need a real backbone: the embedding is
 * derived from the bytes, and bytes starting with "BAD" are refused like a non-image.
 */
export class FakeEmbedder implements Embedder {
  readonly id = 'fake@0000000000000000';
  calls = 0;
  embedded = 0;

  async embedImages(images: Uint8Array[]): Promise<Array<Float32Array | InvalidImageError>> {
    this.calls++;
    return images.map((bytes) => {
      if (new TextDecoder().decode(bytes.subarray(0, 3)) === 'BAD') return new InvalidImageError('not_an_image', 'not an image: unknown format');
      this.embedded++;
      const v = new Float32Array(4);
      bytes.forEach((b, i) => (v[i % 4] = (v[i % 4] ?? 0) + b));
      return v;
    });
  }
}

export async function tempStore(): Promise<{ store: FsObjectStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hs-store-'));
  return { store: new FsObjectStore(dir), dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A stand-in for BatchClient: records the commands, answers SubmitJob and DescribeJobs from a table. */
export class FakeBatch {
  readonly sent: unknown[] = [];
  readonly jobs = new Map<string, JobDetail>();
  nextId = 'c4f1a0de-6b0e-4a57-9a5e-1f2d3c4b5a69';
  failWith: Error | undefined;

  async send(command: unknown): Promise<unknown> {
    this.sent.push(command);
    if (this.failWith) throw this.failWith;
    if (command instanceof SubmitJobCommand) {
      // Like Batch, a submitted job is known at once (as SUBMITTED).
      if (!this.jobs.has(this.nextId)) this.jobs.set(this.nextId, { jobId: this.nextId, jobName: command.input.jobName ?? '', jobQueue: command.input.jobQueue ?? '', jobDefinition: command.input.jobDefinition ?? '', status: 'SUBMITTED', startedAt: undefined, createdAt: Date.now() });
      return { jobId: this.nextId, jobName: command.input.jobName, jobArn: `arn:aws:batch:eu-west-1:123456789012:job/${this.nextId}` };
    }
    if (command instanceof DescribeJobsCommand) {
      return { jobs: (command.input.jobs ?? []).flatMap((id) => (this.jobs.has(id) ? [this.jobs.get(id)] : [])) };
    }
    throw new Error(`unexpected command ${String((command as object).constructor.name)}`);
  }

  asClient(): BatchClient {
    return this as unknown as BatchClient;
  }
}
