import { describe, expect, it } from 'vitest';
import { HashingLimiter } from '../../src/accounts/hashing-limiter.js';
import { OAuthError } from '../../src/oauth/errors.js';

/** A promise the test settles by hand, so every interleaving below is chosen, not timed. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => (err instanceof OAuthError ? { error: err.code, status: err.status, retryAfter: err.headers?.['retry-after'] } : err),
  );

describe('the hashing limiter', () => {
  it('holds a hashing slot for the argon2 call alone: a slot is free while an attempt waits for its statements', async () => {
    const limiter = new HashingLimiter({ total: 1, perAddress: 1, queuedPerAddress: 2, queuedTotal: 10 });
    const statements = gate();
    const hashes: string[] = [];
    // Attempt A is in its database phase (before hashing) and holds no slot...
    const a = limiter.run('192.0.2.1', async () => {
      await statements.opened;
      return limiter.hash(async () => hashes.push('a'));
    });
    // ...so attempt B, from another address, hashes at once with the process's only slot.
    await limiter.run('192.0.2.2', () => limiter.hash(async () => hashes.push('b')));
    expect(hashes).toEqual(['b']);
    statements.open();
    await a;
    expect(hashes).toEqual(['b', 'a']);
  });

  it('runs at most `total` verifications at once and hands freed slots out in arrival order', async () => {
    const limiter = new HashingLimiter({ total: 2, perAddress: 1, queuedPerAddress: 2, queuedTotal: 10 });
    const gates = Array.from({ length: 5 }, gate);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const all = gates.map((g, i) =>
      limiter.run(`192.0.2.${i + 1}`, () =>
        limiter.hash(async () => {
          started.push(i);
          most = Math.max(most, ++running);
          await g.opened;
          running--;
        }),
      ),
    );
    await flush();
    expect(started).toEqual([0, 1]);
    gates[1]!.open();
    await flush();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.open();
    await flush();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const g of gates) g.open();
    await Promise.all(all);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });

  it('keeps one address to its share: its next attempt starts only when the one before ends, more are refused with 429', async () => {
    const limiter = new HashingLimiter({ total: 4, perAddress: 1, queuedPerAddress: 2, queuedTotal: 10 });
    const first = gate();
    const order: string[] = [];
    const attempt = (name: string, wait?: Promise<void>) =>
      limiter.run('198.51.100.7', async () => {
        order.push(`${name} starts`);
        await wait;
        order.push(`${name} ends`);
      });
    const a = attempt('a', first.opened);
    const b = attempt('b');
    const c = attempt('c');
    expect(await refusal(attempt('d'))).toEqual({ error: 'rate_limited', status: 429, retryAfter: '1' });
    // Another address is not held up by this one's queue.
    await limiter.run('198.51.100.8', async () => order.push('other address'));
    first.open();
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a starts', 'other address', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
    // With the queue drained, the address is heard again.
    await expect(attempt('e')).resolves.toBeUndefined();
  });

  it('refuses with 503 once `total + queuedTotal` attempts are in progress or waiting, before any of them is counted', async () => {
    const limiter = new HashingLimiter({ total: 1, perAddress: 1, queuedPerAddress: 2, queuedTotal: 2 });
    const held = gate();
    let ran = 0;
    const admitted = Array.from({ length: 3 }, (_, i) =>
      limiter.run(`203.0.113.${i + 1}`, async () => {
        ran++;
        await held.opened;
      }),
    );
    let refusedRan = false;
    expect(await refusal(limiter.run('203.0.113.99', async () => void (refusedRan = true)))).toEqual({
      error: 'temporarily_unavailable',
      status: 503,
      retryAfter: '1',
    });
    expect(refusedRan).toBe(false);
    held.open();
    await Promise.all(admitted);
    expect(ran).toBe(3);
    await expect(limiter.run('203.0.113.99', async () => 'heard')).resolves.toBe('heard');
  });

  it('gives the slot and the share back when the work fails', async () => {
    const limiter = new HashingLimiter({ total: 1, perAddress: 1, queuedPerAddress: 0, queuedTotal: 0 });
    await expect(limiter.run('192.0.2.9', () => limiter.hash(async () => Promise.reject(new Error('argon2 failed'))))).rejects.toThrow('argon2 failed');
    await expect(limiter.run('192.0.2.9', () => limiter.hash(async () => 'again'))).resolves.toBe('again');
  });
});
