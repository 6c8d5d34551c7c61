import { randomBytes } from 'node:crypto';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';

/**
 * A new session. It authenticated when it was created (`auth_time`), by
 * `amr` (default: a password), and gets a random public id (`sid`) that ID
 * tokens may carry: unrelated to the cookie, it cannot be turned into one.
 */
export async function insertSession(
  db: Executor,
  session: {
    id_digest: string;
    user_id: string;
    csrf_secret: string;
    created_at: Date;
    expires_at: Date;
    amr?: string[];
    address?: string | null;
    user_agent?: string | null;
  },
): Promise<void> {
  await runCompiled(db, INSERT_SESSION, [
    session.id_digest, session.user_id, session.csrf_secret, session.created_at, session.expires_at,
    session.address ?? null, session.user_agent ?? null, session.amr ?? ['pwd'], randomBytes(16).toString('base64url'),
  ]);
}

// Written once as text: every sign-in makes one (a named statement, see compiled.ts).
const INSERT_SESSION = `
  insert into sessions (id_digest, user_id, csrf_secret, created_at, expires_at, address, user_agent, auth_time, last_seen_at, amr, sid)
  values ($1, $2, $3, $4, $5, $6, $7, $4, $4, $8, $9)`;

export function findLiveSession(db: Executor, idDigest: string, now: Date) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id_digest', 's.user_id', 's.csrf_secret', 's.expires_at', 's.sid', 's.auth_time', 's.amr', 's.last_seen_at', 'u.username', 'u.email', 'u.is_admin'])
    .where('s.id_digest', '=', idDigest)
    .where('s.expires_at', '>', now)
    // Disabling ends a user's sessions; this makes sure no other way in (a passkey, a race) leaves one working.
    .where('u.disabled_at', 'is', null)
    .executeTakeFirst();
}

/** Deletes a session; what it was (its public id and user), or null when there was none. */
export async function deleteSession(db: Executor, idDigest: string): Promise<{ sid: string; userId: string } | null> {
  const row = await db.deleteFrom('sessions').where('id_digest', '=', idDigest).returning(['sid', 'user_id']).executeTakeFirst();
  return row ? { sid: row.sid, userId: row.user_id } : null;
}

/**
 * Deletes every session of a user but `exceptIdDigest` (or only the one whose
 * public id is `onlySid`); returns what ended, for those who must hear of it.
 */
export async function deleteSessionsOfUser(db: Executor, userId: string, exceptIdDigest?: string, onlySid?: string): Promise<{ sid: string }[]> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptIdDigest) query = query.where('id_digest', '<>', exceptIdDigest);
  if (onlySid !== undefined) query = query.where('sid', '=', onlySid);
  return query.returning(['sid']).execute();
}

/** Records that a session was used at `now`, unless it already was since `staleBefore`: at most one write a minute. */
export async function touchSession(db: Executor, idDigest: string, now: Date, staleBefore: Date): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ last_seen_at: now })
    .where('id_digest', '=', idDigest)
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', staleBefore)]))
    .execute();
}

/** A user's live sessions, most recently seen first. */
export function listLiveSessionsOfUser(db: Executor, userId: string, now: Date) {
  return db
    .selectFrom('sessions')
    .select(['id_digest', 'sid', 'created_at', 'last_seen_at', 'address', 'user_agent', 'amr'])
    .where('user_id', '=', userId)
    .where('expires_at', '>', now)
    .orderBy('last_seen_at', 'desc')
    .orderBy('created_at', 'desc')
    .execute();
}
