import type { Executor } from './executor.js';

export function findAttempts(db: Executor, keys: string[]) {
  return db.selectFrom('login_attempts').selectAll().where('key', 'in', keys).execute();
}

/**
 * Counts one failure for `key` in one statement, starting a new window when the
 * old one has passed, and sets `blocked_until` from the caller's rule.
 */
export async function recordFailure(
  db: Executor,
  key: string,
  now: Date,
  windowStart: Date,
): Promise<{ failures: number; first_failure_at: Date }> {
  return db
    .insertInto('login_attempts')
    .values({ key, failures: 1, first_failure_at: now, blocked_until: null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        failures: eb
          .case()
          .when('login_attempts.first_failure_at', '<', windowStart)
          .then(1)
          .else(eb('login_attempts.failures', '+', 1))
          .end(),
        first_failure_at: eb
          .case()
          .when('login_attempts.first_failure_at', '<', windowStart)
          .then(now)
          .else(eb.ref('login_attempts.first_failure_at'))
          .end(),
      })),
    )
    .returning(['failures', 'first_failure_at'])
    .executeTakeFirstOrThrow();
}

export async function setBlockedUntil(db: Executor, key: string, until: Date): Promise<void> {
  await db.updateTable('login_attempts').set({ blocked_until: until }).where('key', '=', key).execute();
}

export async function clearAttempts(db: Executor, key: string): Promise<void> {
  await db.deleteFrom('login_attempts').where('key', '=', key).execute();
}
