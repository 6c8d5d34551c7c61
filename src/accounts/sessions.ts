import { randomBytes } from 'node:crypto';
import { addSeconds, type Clock } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import { afterCommit } from '../store/transaction.js';
import { deleteSession, deleteSessionsOfUser, findLiveSession, insertSession, touchSession } from '../store/sessions.js';

/** How long a sign-in lasts in the browser. */
export const SESSION_TTL_SECONDS = 12 * 3600;

/** A signed-in user, as the pages see them. */
export interface Session {
  idDigest: string;
  userId: string;
  username: string;
  email: string | null;
  isAdmin: boolean;
  /** Signs this session's CSRF tokens (src/web/csrf.ts). */
  csrfSecret: string;
  /** The public session id, and when and how the user authenticated: what ID tokens state. */
  sid: string;
  authTime: Date;
  amr: string[];
}

/** How stale a session's "last seen" may get: a busy session writes it at most once in this many seconds. */
export const LAST_SEEN_PRECISION_SECONDS = 60;

/**
 * The live session with this id, or null when it is unknown or expired. Ids
 * are stored only as digests. Finding it counts as seeing it (for the list on
 * /account/security).
 */
export async function findSession(db: Executor, id: string, now: Date): Promise<Session | null> {
  const row = await findLiveSession(db, digest(id), now);
  if (!row) return null;
  const staleBefore = addSeconds(now, -LAST_SEEN_PRECISION_SECONDS);
  if (row.last_seen_at === null || row.last_seen_at < staleBefore) await touchSession(db, row.id_digest, now, staleBefore);
  return {
    idDigest: row.id_digest,
    userId: row.user_id,
    username: row.username,
    email: row.email,
    isAdmin: row.is_admin,
    csrfSecret: row.csrf_secret,
    sid: row.sid,
    authTime: row.auth_time,
    amr: row.amr,
  };
}

/**
 * Starts a new session for `userId`, ending `replacing` (the session the
 * browser had, if any): a fresh id at sign-in defeats session fixation.
 */
export async function startSession(
  db: Executor,
  clock: Clock,
  userId: string,
  replacing: string | null,
  /** How the user proved who they are (RFC 8176 values), for ID tokens' `amr`. */
  amr: string[] = ['pwd'],
  /** Where the browser signs in from, for the session list. */
  from: { address?: string | null; userAgent?: string | null } = {},
): Promise<{ id: string; csrfSecret: string }> {
  // Not an end the apps hear of: the same person signs in again in the same browser (prompt=login, max_age).
  if (replacing) await deleteSession(db, digest(replacing));
  const id = newSecret(PREFIX.session);
  const now = clock.now();
  const csrfSecret = newCsrfSecret();
  await insertSession(db, {
    id_digest: digest(id),
    user_id: userId,
    csrf_secret: csrfSecret,
    created_at: now,
    expires_at: addSeconds(now, SESSION_TTL_SECONDS),
    amr,
    address: from.address ?? null,
    user_agent: from.userAgent ? from.userAgent.slice(0, MAX_SESSION_USER_AGENT) : null,
  });
  return { id, csrfSecret };
}

/** A session that ended: its public id and whose it was. */
export interface EndedSession {
  sid: string;
  userId: string;
}

/**
 * What ending sessions needs: the database, and who must hear of it once the
 * end is committed (back-channel logout, src/oidc/backchannel.ts; it must
 * return at once).
 */
export interface SessionEndDeps {
  db: Executor;
  onSessionsEnded(ended: readonly EndedSession[]): void;
}

/** Ends one session (sign-out); the ended session, or null when there was none. */
export async function endSession({ db, onSessionsEnded }: SessionEndDeps, id: string): Promise<EndedSession | null> {
  const ended = await deleteSession(db, digest(id));
  if (ended) afterCommit(db, () => onSessionsEnded([ended]));
  return ended;
}

/**
 * Ends every session of a user (all but `exceptIdDigest`, the one asking):
 * the one path a password reset, an administrator disabling a user and "sign
 * out my other sessions" take, so whatever must follow a session's end
 * (back-channel logout) is written once, here.
 */
export async function endSessionsOfUser(
  { db, onSessionsEnded }: SessionEndDeps,
  userId: string,
  /** `onlySid`: just that one session (by its public id), when it is this user's: "sign out this session". */
  options: { exceptIdDigest?: string; onlySid?: string } = {},
): Promise<EndedSession[]> {
  const ended = (await deleteSessionsOfUser(db, userId, options.exceptIdDigest, options.onlySid)).map(({ sid }) => ({ sid, userId }));
  if (ended.length > 0) afterCommit(db, () => onSessionsEnded(ended));
  return ended;
}

/** User agents are kept this long at most: enough to tell browsers apart. */
export const MAX_SESSION_USER_AGENT = 300;

/** A secret that signs CSRF tokens, for a session or for a browser not yet signed in. */
export const newCsrfSecret = (): string => randomBytes(32).toString('base64url');
