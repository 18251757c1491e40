/** LoadedByKey: one load per key, failed loads forgotten, at most `capacity` kept (least recently used evicted). */
import { describe, expect, it } from 'vitest';
import { LoadedByKey } from '../../../src/util/LoadedByKey.js';

describe('LoadedByKey', () => {
  it('shares one load between concurrent callers and keeps it', async () => {
    let loads = 0;
    const cache = new LoadedByKey(async (key) => `${key}#${++loads}`);
    const [a, b] = await Promise.all([cache.get('x'), cache.get('x')]);
    expect([a, b, await cache.get('x')]).toEqual(['x#1', 'x#1', 'x#1']);
    expect(loads).toBe(1);
  });

  it('forgets a failed load, so the next call tries again', async () => {
    let calls = 0;
    const cache = new LoadedByKey(async (key) => {
      if (++calls === 1) throw new Error('offline');
      return key;
    });
    await expect(cache.get('x')).rejects.toThrow('offline');
    expect(cache.size).toBe(0);
    expect(await cache.get('x')).toBe('x');
  });

  it('with a capacity, evicts the least recently asked for, tells onEvict, and loads an evicted key again', async () => {
    const evicted: string[] = [];
    let loads = 0;
    const cache = new LoadedByKey(async (key) => ({ key, n: ++loads }), { capacity: 2, onEvict: (_, key) => evicted.push(key) });
    const a = await cache.get('a');
    await cache.get('b');
    await cache.get('a'); // a used again: b is now the oldest
    await cache.get('c');
    expect(evicted).toEqual(['b']);
    expect(cache.size).toBe(2);
    expect(await cache.get('a')).toBe(a);
    expect((await cache.get('b')).n).toBe(4);
    expect(evicted).toEqual(['b', 'c']);
  });

  it('a failure of an evicted load does not remove the key loaded again since', async () => {
    let fail = true;
    const cache = new LoadedByKey(
      async (key) => {
        if (key === 'a' && fail) {
          fail = false;
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error('slow failure');
        }
        return key;
      },
      { capacity: 1 },
    );
    const first = cache.get('a');
    await cache.get('b'); // evicts the first load of a while it runs
    expect(await cache.get('a')).toBe('a'); // evicts b, loads a again
    await expect(first).rejects.toThrow('slow failure');
    expect(cache.size).toBe(1);
    expect(cache.values()).toHaveLength(1);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new LoadedByKey(async () => 1, { capacity: 0 })).toThrow(/capacity must be a positive integer, got 0/);
  });
});
