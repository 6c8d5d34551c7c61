import { availableParallelism } from 'node:os';
import { OAuthError } from '../oauth/errors.js';

export interface HashingLimits {
  /** Password checks running at once in this process: about one per core, as argon2 is CPU-bound. */
  total: number;
  /** Checks running at once for one address. */
  perAddress: number;
  /** Checks one address may have waiting; more are refused at once with 429. */
  queuedPerAddress: number;
  /** Checks waiting in all; more are refused at once with 503. */
  queuedTotal: number;
}

interface Waiter {
  address: string;
  start(): void;
}

/**
 * Bounds argon2 work in this process, so one address can never take more than
 * its share of hashing: each address runs at most `perAddress` checks and
 * queues a few more; a freed slot goes to the oldest waiter whose address is
 * under its share, so a flood from one address waits behind its own requests
 * and never ahead of other addresses'.
 */
export class HashingLimiter {
  private running = 0;
  private readonly runningBy = new Map<string, number>();
  private readonly waitingBy = new Map<string, number>();
  private readonly queue: Waiter[] = [];

  constructor(readonly limits: HashingLimits) {}

  async run<T>(address: string, work: () => Promise<T>): Promise<T> {
    await this.acquire(address);
    try {
      return await work();
    } finally {
      this.release(address);
    }
  }

  private acquire(address: string): Promise<void> {
    if (this.running < this.limits.total && (this.runningBy.get(address) ?? 0) < this.limits.perAddress) {
      this.take(address);
      return Promise.resolve();
    }
    if ((this.waitingBy.get(address) ?? 0) >= this.limits.queuedPerAddress) {
      throw new OAuthError('rate_limited', 'Too many sign-in attempts at once from your address; try again in 1 second', {
        status: 429,
        headers: { 'retry-after': '1' },
      });
    }
    if (this.queue.length >= this.limits.queuedTotal) {
      throw new OAuthError('temporarily_unavailable', 'The server is busy checking passwords; try again in 1 second', {
        headers: { 'retry-after': '1' },
      });
    }
    bump(this.waitingBy, address, 1);
    return new Promise((resolve) => this.queue.push({ address, start: resolve }));
  }

  private take(address: string): void {
    this.running++;
    bump(this.runningBy, address, 1);
  }

  private release(address: string): void {
    this.running--;
    bump(this.runningBy, address, -1);
    const i = this.queue.findIndex((w) => (this.runningBy.get(w.address) ?? 0) < this.limits.perAddress);
    if (i < 0) return;
    const [next] = this.queue.splice(i, 1);
    bump(this.waitingBy, next!.address, -1);
    this.take(next!.address);
    next!.start();
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}

/** The process's one limiter: argon2 runs on the process's one thread pool. */
export const passwordChecks = new HashingLimiter({
  total: Math.max(2, availableParallelism()),
  perAddress: 1,
  queuedPerAddress: 2,
  queuedTotal: 1000,
});
