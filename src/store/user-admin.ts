import { sql } from 'kysely';
import type { User } from '../db/schema.js';
import type { Executor } from './executor.js';

/** A user as administrators' listings show them: never the password hash. */
export type UserSummary = Pick<User, 'id' | 'username' | 'email' | 'is_admin' | 'email_verified' | 'disabled_at' | 'created_at'>;

const SUMMARY = ['id', 'username', 'email', 'is_admin', 'email_verified', 'disabled_at', 'created_at'] as const;

/** `text` as a LIKE pattern matching it literally anywhere (backslash is PostgreSQL's default LIKE escape). */
const containing = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export interface UserSearch {
  /** Part of a username or e-mail address, matched case-insensitively; a user id matches exactly. */
  text?: string;
  /** The lower-cased username of the last row of the page before. */
  after?: string;
  limit: number;
}

/**
 * Users ordered by lower-cased username, which is unique: a page that starts
 * after the previous page's last name neither repeats nor skips anyone when
 * users are added or removed meanwhile. The search text is a bound parameter.
 */
export function searchUsers(db: Executor, q: UserSearch): Promise<UserSummary[]> {
  let query = db.selectFrom('users').select(SUMMARY);
  if (q.text) {
    const pattern = containing(q.text);
    const id = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(q.text) ? q.text.toLowerCase() : null;
    query = query.where((eb) =>
      eb.or([
        eb(sql`lower(username)`, 'like', pattern),
        eb(sql`lower(email)`, 'like', pattern),
        ...(id ? [eb('id', '=', id)] : []),
      ]),
    );
  }
  if (q.after !== undefined) query = query.where(sql`lower(username)`, '>', q.after);
  return query.orderBy(sql`lower(username)`).limit(q.limit).execute();
}

export function findUserSummary(db: Executor, id: string): Promise<UserSummary | undefined> {
  return db.selectFrom('users').select(SUMMARY).where('id', '=', id).executeTakeFirst();
}

/**
 * Locks every enabled administrator's row (in a transaction) and counts them
 * but `exceptId`: two administrators taking each other's rights at once are
 * served one after the other, so one of them always remains.
 */
export async function countOtherActiveAdmins(db: Executor, exceptId: string): Promise<number> {
  const rows = await db.selectFrom('users').select('id').where('is_admin', '=', true).where('disabled_at', 'is', null).orderBy('id').forUpdate().execute();
  return rows.filter((r) => r.id !== exceptId).length;
}

export async function setDisabled(db: Executor, userId: string, at: Date | null): Promise<void> {
  await db.updateTable('users').set({ disabled_at: at }).where('id', '=', userId).execute();
}

export async function setAdmin(db: Executor, userId: string, isAdmin: boolean): Promise<void> {
  await db.updateTable('users').set({ is_admin: isAdmin }).where('id', '=', userId).execute();
}

/** Changes a user's name and/or address; undefined when the name is taken (case-insensitively). */
export async function updateUserFields(db: Executor, userId: string, fields: { username?: string; email?: string | null }): Promise<UserSummary | undefined> {
  const taken = fields.username
    ? await db.selectFrom('users').select('id').where(sql`lower(username)`, '=', fields.username.toLowerCase()).where('id', '<>', userId).executeTakeFirst()
    : undefined;
  if (taken) return undefined;
  const set = {
    ...(fields.username !== undefined ? { username: fields.username } : {}),
    // A new address has not been verified by anyone.
    ...(fields.email !== undefined ? { email: fields.email, email_verified: false } : {}),
  };
  return db.updateTable('users').set(set).where('id', '=', userId).returning(SUMMARY).executeTakeFirst();
}

/**
 * Ends every token a user holds (families, access tokens of every kind,
 * refresh tokens), forgets every consent, and drops what could still turn
 * into a token or a session: unredeemed codes, approved device codes, half-done
 * sign-ins. Sessions are not here: they end through accounts/sessions.ts.
 */
export async function revokeEverythingOfUser(db: Executor, userId: string, now: Date): Promise<{ tokens: number; consents: number }> {
  await db.updateTable('grants').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  const access = await db.updateTable('access_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
  const refresh = await db.updateTable('refresh_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
  const consents = await db.deleteFrom('consents').where('user_id', '=', userId).executeTakeFirst();
  await db.deleteFrom('authorization_codes').where('user_id', '=', userId).execute();
  await db.deleteFrom('device_codes').where('user_id', '=', userId).execute();
  await db.deleteFrom('pending_signins').where('user_id', '=', userId).execute();
  return { tokens: Number(access.numUpdatedRows) + Number(refresh.numUpdatedRows), consents: Number(consents.numDeletedRows) };
}

/** Deletes the user; their tokens, consents, codes, sessions and second factors go with them (foreign keys cascade). */
export async function deleteUserRow(db: Executor, userId: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** A user's live sessions, newest first: when and how they signed in, never the session id. */
export function listSessionsOfUser(db: Executor, userId: string, now: Date) {
  return db
    .selectFrom('sessions')
    .select(['sid', 'created_at', 'auth_time', 'expires_at', 'amr'])
    .where('user_id', '=', userId)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute();
}

/** How many live tokens a user holds (access and refresh, personal included). */
export async function countLiveTokensOfUser(db: Executor, userId: string, now: Date): Promise<number> {
  const row = await sql<{ n: string }>`
    select (select count(*) from access_tokens where user_id = ${userId} and revoked_at is null and (expires_at is null or expires_at > ${now}))
         + (select count(*) from refresh_tokens where user_id = ${userId} and revoked_at is null and (expires_at is null or expires_at > ${now})) as n`.execute(db);
  return Number(row.rows[0]?.n ?? 0);
}

/** The user's second factors as facts, never their secrets. */
export async function secondFactorsOf(db: Executor, userId: string): Promise<{ totp: boolean; recoveryCodes: number; passkeys: number | null }> {
  const row = await sql<{ totp: boolean; recovery: string; passkeys_table: string | null }>`
    select exists (select 1 from user_totp where user_id = ${userId} and confirmed_at is not null) as totp,
           (select count(*) from recovery_codes where user_id = ${userId} and used_at is null) as recovery,
           to_regclass('passkeys')::text as passkeys_table`.execute(db);
  const r = row.rows[0]!;
  // Passkeys may not exist in this database yet: count them only where their table does.
  let passkeys: number | null = null;
  if (r.passkeys_table && !db.isTransaction) {
    try {
      const p = await sql<{ n: string }>`select count(*) as n from passkeys where user_id = ${userId}`.execute(db);
      passkeys = Number(p.rows[0]?.n ?? 0);
    } catch {
      passkeys = null; // a table of that name shaped otherwise: say nothing rather than fail the page
    }
  }
  return { totp: r.totp, recoveryCodes: Number(r.recovery), passkeys };
}

/** When the user last signed in, as the audit log remembers it (within LATCH_AUDIT_RETENTION). */
export async function lastSignInOf(db: Executor, userId: string): Promise<{ at: Date; address: string | null } | undefined> {
  return db
    .selectFrom('audit_events')
    .select(['at', 'address'])
    .where('target_user_id', '=', userId)
    .where('action', '=', 'signin.success')
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}
