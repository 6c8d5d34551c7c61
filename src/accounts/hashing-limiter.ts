import { availableParallelism } from 'node:os';
import { OAuthError } from '../oauth/errors.js';

export interface HashingLimits {
  /** argon2 verifications running at once in this process: one per core, as argon2 is CPU-bound. */
  total: number;
  /** Sign-in attempts in progress at once for one address. */
  perAddress: number;
  /** Attempts one address may have waiting; more are refused at once with 429. */
  queuedPerAddress: number;
  /** Attempts in progress or waiting in all, beyond `total`; more are refused at once with 503. */
  queuedTotal: number;
}

/**
 * Bounds argon2 work in this process, so one address can never take more than
 * its share of hashing. Two levels:
 *
 * - an attempt (`run`) holds its address's share from before the throttle
 *   counts it to after the verdict: each address has at most `perAddress`
 *   attempts in progress and queues a few more behind them, so a flood from one
 *   address waits behind its own requests and never ahead of other addresses';
 * - the verification itself (`hash`) holds one of `total` hashing slots, handed
 *   out in arrival order. It is held for the argon2 call alone: an attempt's
 *   statements (the throttle, the user's row) run outside it, so the cores
 *   never wait for the database while attempts are queued.
 */
export class HashingLimiter {
  private admitted = 0;
  private readonly runningBy = new Map<string, number>();
  private readonly waitingBy = new Map<string, Array<() => void>>();
  private hashing = 0;
  private readonly hashQueue: Array<() => void> = [];

  constructor(readonly limits: HashingLimits) {}

  /** Runs one sign-in attempt within its address's share. */
  async run<T>(address: string, work: () => Promise<T>): Promise<T> {
    await this.admit(address);
    try {
      return await work();
    } finally {
      this.leave(address);
    }
  }

  /** Runs one argon2 call in a hashing slot. */
  async hash<T>(work: () => Promise<T>): Promise<T> {
    if (this.hashing < this.limits.total) this.hashing++;
    else await new Promise<void>((resolve) => this.hashQueue.push(resolve));
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, so the count stays as it is.
      const next = this.hashQueue.shift();
      if (next) next();
      else this.hashing--;
    }
  }

  private admit(address: string): Promise<void> {
    if (this.admitted >= this.limits.total + this.limits.queuedTotal) {
      throw new OAuthError('temporarily_unavailable', 'The server is busy checking passwords; try again in 1 second', {
        headers: { 'retry-after': '1' },
      });
    }
    if ((this.runningBy.get(address) ?? 0) < this.limits.perAddress) {
      this.admitted++;
      bump(this.runningBy, address, 1);
      return Promise.resolve();
    }
    const waiting = this.waitingBy.get(address) ?? [];
    if (waiting.length >= this.limits.queuedPerAddress) {
      throw new OAuthError('rate_limited', 'Too many sign-in attempts at once from your address; try again in 1 second', {
        status: 429,
        headers: { 'retry-after': '1' },
      });
    }
    this.admitted++;
    this.waitingBy.set(address, waiting);
    return new Promise((resolve) => waiting.push(resolve));
  }

  private leave(address: string): void {
    this.admitted--;
    const waiting = this.waitingBy.get(address);
    const next = waiting?.shift();
    if (!next) {
      bump(this.runningBy, address, -1);
      return;
    }
    // The share passes to the address's next attempt: its running count is unchanged.
    if (waiting!.length === 0) this.waitingBy.delete(address);
    next();
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
