import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../../src/adapters/local/FsObjectStore.js';
import { InvalidNameError } from '../../../src/errors.js';
import type { ObjectEvent } from '../../../src/ports/ObjectEvent.js';
import { listAll } from '../../../src/ports/ObjectStore.js';
import { objectStoreContract } from '../../helpers/objectStoreContract.js';

async function tempRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'headstart-fs-store-'));
}

objectStoreContract('FsObjectStore', async () => {
  const root = await tempRoot();
  return { store: new FsObjectStore(path.join(root, 'bucket')), cleanup: () => fs.rm(root, { recursive: true, force: true }) };
});

/** Every path under `dir`, relative, sorted: what is really on disk. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

describe('FsObjectStore on disk', () => {
  let parent: string;
  let root: string;
  let store: FsObjectStore;

  beforeEach(async () => {
    parent = await tempRoot();
    root = path.join(parent, 'bucket');
    store = new FsObjectStore(root);
  });
  afterEach(async () => {
    await fs.rm(parent, { recursive: true, force: true });
  });

  it('stores a key as the file of the same path, and nothing beside it', async () => {
    await store.put('datasets/my set/ants/ant photo (1).jpg', new Uint8Array([1, 2, 3]));
    expect(await fs.readFile(path.join(root, 'datasets', 'my set', 'ants', 'ant photo (1).jpg'))).toEqual(Buffer.from([1, 2, 3]));
    expect(await filesUnder(root)).toEqual(['datasets', 'datasets/my set', 'datasets/my set/ants', 'datasets/my set/ants/ant photo (1).jpg']);
  });

  it('never writes outside its root, whatever the key', async () => {
    const sneaky = ['../escape.txt', 'a/../../escape.txt', '/tmp/escape.txt', '..\\escape.txt', 'a/..', 'ok/\0/x'];
    for (const key of sneaky) await expect(store.put(key, 'x')).rejects.toBeInstanceOf(InvalidNameError);
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it('reports a file copied into the folder by hand, with the MD5 of its bytes, and notices when it changes', async () => {
    await fs.mkdir(path.join(root, 'datasets', 'd', 'l'), { recursive: true });
    const file = path.join(root, 'datasets', 'd', 'l', 'by hand.jpg');
    await fs.writeFile(file, 'first');
    expect(await store.head('datasets/d/l/by hand.jpg')).toMatchObject({ size: 5, etag: createHash('md5').update('first').digest('hex') });
    await fs.writeFile(file, 'second, longer');
    expect(await store.head('datasets/d/l/by hand.jpg')).toMatchObject({
      size: 14,
      etag: createHash('md5').update('second, longer').digest('hex'),
    });
    // Same size, new bytes: the mtime (ns) tells the memo the bytes changed.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fs.writeFile(file, 'SECOND, LONGER');
    expect((await store.head('datasets/d/l/by hand.jpg'))?.etag).toBe(createHash('md5').update('SECOND, LONGER').digest('hex'));
  });

  it('list skips unfinished writes (temp files) and symbolic links', async () => {
    await store.put('k/real.txt', 'real');
    await fs.writeFile(path.join(root, 'k', '.hs-tmp-0000'), 'half a fi');
    await fs.symlink(parent, path.join(root, 'k', 'link'));
    expect((await listAll(store, '')).map((info) => info.key)).toEqual(['k/real.txt']);
  });

  it('a reader never sees half an object while it is overwritten', async () => {
    const a = Buffer.alloc(2 * 1024 * 1024, 'a');
    const b = Buffer.alloc(3 * 1024 * 1024, 'b');
    await store.put('big/x.bin', new Uint8Array(a));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 10; i++) await store.put('big/x.bin', new Uint8Array(i % 2 === 0 ? b : a));
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const got = Buffer.from((await store.get('big/x.bin')) ?? []);
      expect(got.equals(a) || got.equals(b)).toBe(true);
      reads++;
    }
    await writer;
    expect(reads).toBeGreaterThan(0);
    expect((await fs.readdir(path.join(root, 'big'))).filter((name) => name.startsWith('.hs-tmp-'))).toEqual([]);
  });

  it('delete prunes the folders it empties, up to but never including the root', async () => {
    await store.put('a/b/c/d.txt', 'd');
    await store.put('a/keep.txt', 'k');
    await store.delete('a/b/c/d.txt');
    expect(await filesUnder(root)).toEqual(['a', 'a/keep.txt']);
    await store.delete('a/keep.txt');
    expect(await filesUnder(root)).toEqual([]);
    await expect(fs.stat(root)).resolves.toBeDefined();
  });

  it('a key cannot be both an object and a folder of objects', async () => {
    await store.put('x/y', 'object');
    await expect(store.put('x/y/z', 'under an object')).rejects.toBeInstanceOf(InvalidNameError);
    await store.put('f/g/h', 'deep');
    await expect(store.put('f/g', 'over a folder')).rejects.toBeInstanceOf(InvalidNameError);
    expect(await store.get('f/g')).toBeUndefined();
    expect(await store.head('f/g')).toBeUndefined();
    expect(await store.get('x/y/z')).toBeUndefined();
    await store.delete('f/g'); // a folder, not an object: nothing to delete
    expect(await store.get('f/g/h')).toBeDefined();
  });

  it('does not create the root until the first put, and lists an absent root as empty', async () => {
    expect(await listAll(store, '')).toEqual([]);
    expect(await store.get('a')).toBeUndefined();
    await expect(fs.stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('FsObjectStore events', () => {
  let parent: string;
  beforeEach(async () => {
    parent = await tempRoot();
  });
  afterEach(async () => {
    await fs.rm(parent, { recursive: true, force: true });
  });

  it('reports puts and deletes under datasets/ with unique ids, after the change is visible', async () => {
    const store = new FsObjectStore(parent);
    const events: ObjectEvent[] = [];
    const seenOnDisk: boolean[] = [];
    store.onEvent((event) => {
      events.push(event);
      seenOnDisk.push(event.kind === 'created');
    });
    await store.put('datasets/d/l/a.jpg', 'a');
    await store.put('datasets/d/l/a.jpg', 'a again');
    await store.put('models/d/v1/model.json', '{}');
    await store.delete('datasets/d/l/a.jpg');
    await store.delete('datasets/d/l/a.jpg'); // already gone: no event
    await store.delete('models/d/v1/model.json');
    expect(events.map(({ kind, key }) => ({ kind, key }))).toEqual([
      { kind: 'created', key: 'datasets/d/l/a.jpg' },
      { kind: 'created', key: 'datasets/d/l/a.jpg' },
      { kind: 'removed', key: 'datasets/d/l/a.jpg' },
    ]);
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
  });

  it('the listener sees the object already in place, and already gone', async () => {
    const store = new FsObjectStore(parent);
    const seen: string[] = [];
    store.onEvent((event) => {
      const file = path.join(parent, ...event.key.split('/'));
      seen.push(`${event.kind}:${existsSync(file) ? readFileSync(file, 'utf8') : 'absent'}`);
    });
    await store.put('datasets/d/l/a.jpg', 'content');
    await store.delete('datasets/d/l/a.jpg');
    expect(seen).toEqual(['created:content', 'removed:absent']);
  });

  it('honours another prefix, unsubscribes, and never lets a failing listener fail a put', async () => {
    const errors: string[] = [];
    const store = new FsObjectStore(parent, { eventPrefix: 'in/', onListenerError: (error) => errors.push(String(error)) });
    const keys: string[] = [];
    const unsubscribe = store.onEvent((event) => {
      keys.push(event.key);
    });
    store.onEvent(() => {
      throw new Error('sync boom');
    });
    store.onEvent(async () => {
      throw new Error('async boom');
    });
    await store.put('in/x', 'x');
    await store.put('datasets/d/l/y', 'y');
    unsubscribe();
    await store.put('in/z', 'z');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(keys).toEqual(['in/x']);
    expect(errors.sort()).toEqual(['Error: async boom', 'Error: async boom', 'Error: sync boom', 'Error: sync boom']);
  });
});
