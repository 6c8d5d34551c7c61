import { randomBytes } from 'node:crypto';
import type { Executor } from './executor.js';

/**
 * A new session. It authenticated when it was created (`auth_time`), by
 * `amr` (default: a password), and gets a random public id (`sid`) that ID
 * tokens may carry: unrelated to the cookie, it cannot be turned into one.
 */
export async function insertSession(
  db: Executor,
  session: { id_digest: string; user_id: string; csrf_secret: string; created_at: Date; expires_at: Date; amr?: string[] },
): Promise<void> {
  const { amr, ...row } = session;
  await db
    .insertInto('sessions')
    .values({ ...row, auth_time: row.created_at, amr: amr ?? ['pwd'], sid: randomBytes(16).toString('base64url') })
    .execute();
}

export function findLiveSession(db: Executor, idDigest: string, now: Date) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id_digest', 's.user_id', 's.csrf_secret', 's.expires_at', 's.sid', 's.auth_time', 's.amr', 'u.username', 'u.email', 'u.is_admin'])
    .where('s.id_digest', '=', idDigest)
    .where('s.expires_at', '>', now)
    // Disabling ends a user's sessions; this makes sure no other way in (a passkey, a race) leaves one working.
    .where('u.disabled_at', 'is', null)
    .executeTakeFirst();
}

export async function deleteSession(db: Executor, idDigest: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_digest', '=', idDigest).execute();
}

/** Deletes every session of a user but `exceptIdDigest`; returns what ended, for those who must hear of it. */
export async function deleteSessionsOfUser(db: Executor, userId: string, exceptIdDigest?: string): Promise<{ sid: string }[]> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptIdDigest) query = query.where('id_digest', '<>', exceptIdDigest);
  return query.returning(['sid']).execute();
}
