import { afterEach, beforeEach } from 'vitest';
import { ManualClock, type Clock } from '../../src/clock.js';

/** Where every test clock starts, so a test's times never depend on what ran before it. */
export const TEST_EPOCH = Date.UTC(2030, 0, 1);

/** A clock a test may move. */
export type MovableClock = Pick<ManualClock, 'now' | 'advance'>;

/**
 * The clock a test app reads: a still clock at TEST_EPOCH, or, while a test that
 * took its own (withClock) runs, that test's clock. Nothing moves the still one.
 */
export class AppClock implements Clock {
  private readonly still = new ManualClock(TEST_EPOCH);
  private current: ManualClock = this.still;
  now(): Date {
    return this.current.now();
  }
  /** Points the app at `clock` until `release()`. */
  use(clock: ManualClock): void {
    this.current = clock;
  }
  release(): void {
    this.current = this.still;
  }
}

/**
 * Gives each test of the enclosing describe (or file) its own clock starting at
 * TEST_EPOCH: read and move time through what it returns. With `t`, `t`'s app
 * reads that clock too while the test runs. Call it wherever tests move time.
 */
export function withClock(t?: { clock: AppClock }): MovableClock {
  let own = new ManualClock(TEST_EPOCH);
  beforeEach(() => {
    own = new ManualClock(TEST_EPOCH);
    t?.clock.use(own);
  });
  if (t) afterEach(() => t.clock.release());
  return { now: () => own.now(), advance: (seconds: number) => own.advance(seconds) };
}
