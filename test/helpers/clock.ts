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
 * TEST_EPOCH, and points `t`'s app at it while the test runs. Call it in every
 * describe whose tests move time; read and move time through what it returns.
 */
export function withClock(t: { clock: AppClock }): MovableClock {
  let own = new ManualClock(TEST_EPOCH);
  beforeEach(() => {
    own = new ManualClock(TEST_EPOCH);
    t.clock.use(own);
  });
  afterEach(() => t.clock.release());
  return { now: () => own.now(), advance: (seconds: number) => own.advance(seconds) };
}

/** A clock of a test's own for code that takes a clock directly (no app). */
export const newClock = (start: Date | number = TEST_EPOCH): ManualClock => new ManualClock(start);
