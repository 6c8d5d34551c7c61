import { sql } from 'kysely';
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
  const { now, windowStart, free } = rule;
  const blocked = sql`coalesce(t.blocked_until > ${now}, false)`;
  const fresh = sql`t.first_failure_at < ${windowStart}`;
  const next = sql`(t.failures + 1)`;
  const crossing = sql`(${next} > ${free} and (${next} - ${free}) % 2 = 1)`;
  const blockSeconds = sql`least(${rule.maxBlockSeconds}::float8, ${rule.firstBlockSeconds}::float8 * power(2, least((${next} - ${free} - 1) / 2, 20)))`;
  const result = await sql<AttemptCount>`
    insert into login_attempts as t (key, failures, first_failure_at, blocked_until)
    values (${key}, 1, ${now}, null)
    on conflict (key) do update set
      failures = case when ${blocked} then t.failures when ${fresh} then 1 else ${next} end,
      first_failure_at = case when ${blocked} then t.first_failure_at when ${fresh} then ${now}::timestamptz else t.first_failure_at end,
      blocked_until = case
        when ${blocked} or ${fresh} or not ${crossing} then t.blocked_until
        else ${now}::timestamptz + ${blockSeconds} * interval '1 second' end
    returning failures, first_failure_at, blocked_until`.execute(db);
  return result.rows[0]!;
}

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
  const notBlocked = sql`coalesce(blocked_until <= ${now}, true)`;
  await sql`
    with cleared as (
      delete from login_attempts
      where key in (${sql.join(keys.clear)}) or (key in (${sql.join(keys.uncount)}) and failures <= 1 and ${notBlocked})
    )
    update login_attempts set failures = failures - 1
    where key in (${sql.join(keys.uncount)}) and failures > 1 and ${notBlocked}`.execute(db);
}
