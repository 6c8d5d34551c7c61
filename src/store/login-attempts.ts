import { runCompiled } from './compiled.js';
import type { Executor } from './executor.js';

export interface AttemptCount {
  failures: number;
  first_failure_at: Date;
  blocked_until: Date | null;
}

export interface AttemptRule {
  now: Date;
  /** Counts that began before this start a new window. */
  windowStart: Date;
  /** Attempts let through in a window before the first block. */
  free: number;
  firstBlockSeconds: number;
  maxBlockSeconds: number;
}

/**
 * Counts one attempt for `key` and decides it, in one statement: the row lock
 * serialises concurrent attempts, so a burst cannot slip past the count.
 *
 * While the key is blocked nothing changes. Otherwise the count goes up; the
 * attempt that takes it past `free` starts a block, the first attempt after a
 * block ends is let through, the one after it starts a block twice as long,
 * and so on up to `maxBlockSeconds`. So a count above `free` that is odd past
 * it means refused, even means let through (see `isRefused`); nothing else
 * needs storing.
 */
export async function countAttempt(db: Executor, key: string, rule: AttemptRule): Promise<AttemptCount> {
  const rows = await runCompiled<AttemptCount>(db, COUNT_ATTEMPT, [key, rule.now, rule.windowStart, rule.free, rule.firstBlockSeconds, rule.maxBlockSeconds]);
  return rows[0]!;
}

// $1 key, $2 now, $3 window start, $4 free attempts, $5 first block (s), $6 longest block (s).
const COUNT_ATTEMPT = `
  insert into login_attempts as t (key, failures, first_failure_at, blocked_until)
  values ($1, 1, $2, null)
  on conflict (key) do update set
    failures = case when coalesce(t.blocked_until > $2, false) then t.failures when t.first_failure_at < $3 then 1 else t.failures + 1 end,
    first_failure_at = case when coalesce(t.blocked_until > $2, false) then t.first_failure_at when t.first_failure_at < $3 then $2::timestamptz else t.first_failure_at end,
    blocked_until = case
      when coalesce(t.blocked_until > $2, false) or t.first_failure_at < $3 or not (t.failures + 1 > $4 and (t.failures + 1 - $4) % 2 = 1) then t.blocked_until
      else $2::timestamptz + least($6::float8, $5::float8 * power(2, least((t.failures + 1 - $4 - 1) / 2, 20))) * interval '1 second' end
  returning failures, first_failure_at, blocked_until`;

/** Whether the count `countAttempt` returned refuses the attempt it counted. */
export const isRefused = (count: Pick<AttemptCount, 'failures'>, free: number): boolean =>
  count.failures > free && (count.failures - free) % 2 === 1;

/**
 * Takes back attempts that succeeded, in one statement: `clear` keys are
 * forgotten, `uncount` keys lose one (a key left at nothing goes). A key
 * blocked meanwhile keeps its count, so taking one back never turns a block's
 * count into one that lets through; and a key another attempt counts in the
 * same instant may keep this one: at worst a success is counted once.
 */
export async function forgiveAttempt(db: Executor, now: Date, keys: { clear: string[]; uncount: string[] }): Promise<void> {
  await runCompiled(db, FORGIVE_ATTEMPT, [keys.clear, keys.uncount, now]);
}

// $1 keys to clear, $2 keys to uncount, $3 now.
const FORGIVE_ATTEMPT = `
  with cleared as (
    delete from login_attempts
    where key = any($1::text[]) or (key = any($2::text[]) and failures <= 1 and coalesce(blocked_until <= $3, true))
  )
  update login_attempts set failures = failures - 1
  where key = any($2::text[]) and failures > 1 and coalesce(blocked_until <= $3, true)`;
