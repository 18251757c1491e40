/** The harness itself: it must fail loudly without moto_server and leave no process behind. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { motoS3Client, startMoto } from '../../helpers/moto.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('moto_server harness', () => {
  it('starts a server that answers S3 calls, and stop() ends its whole process group', async () => {
    const moto = await startMoto();
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s3 = motoS3Client(moto.endpoint);
    expect((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).toEqual([]);
    s3.destroy();
    expect(isAlive(moto.pid)).toBe(true);
    await moto.stop();
    await moto.stop(); // twice is fine
    expect(isAlive(moto.pid)).toBe(false);
  });

  it('throws (does not skip) when moto_server is not installed', async () => {
    const emptyDir = await fs.mkdtemp(path.join(os.tmpdir(), 'no-moto-'));
    const savedPath = process.env['PATH'];
    process.env['PATH'] = emptyDir;
    process.env['HEADSTART_MOTO_PYTHON'] = path.join(emptyDir, 'python3');
    try {
      await expect(startMoto()).rejects.toThrow(/moto_server is not installed/);
    } finally {
      process.env['PATH'] = savedPath;
      delete process.env['HEADSTART_MOTO_PYTHON'];
      await fs.rm(emptyDir, { recursive: true, force: true });
    }
  });
});
