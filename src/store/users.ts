import { sql } from 'kysely';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';
import { SECOND_FACTOR_OF_U } from './totp.js';
import type { User } from '../db/schema.js';

export async function insertUser(
  db: Executor,
  user: { id: string; username: string; email: string | null; passwordHash: string; isAdmin: boolean; createdAt: Date },
): Promise<User | undefined> {
  return db
    .insertInto('users')
    .values({
      id: user.id,
      username: user.username,
      email: user.email,
      password_hash: user.passwordHash,
      is_admin: user.isAdmin,
      created_at: user.createdAt,
    })
    .onConflict((oc) => oc.expression(sql`lower(username)`).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function findUserByUsername(db: Executor, username: string): Promise<User | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where(sql`lower(username)`, '=', username.toLowerCase())
    .executeTakeFirst();
}

/** A user as a sign-in needs it: the row, and whether a second factor (a confirmed TOTP) guards it. */
export type SignInUser = User & { has_second_factor: boolean };

/** The user named `username` (any case) for a sign-in, in one statement with its second-factor flag. */
export async function findUserForSignIn(db: Executor, username: string): Promise<SignInUser | undefined> {
  return (await runCompiled<SignInUser>(db, FIND_USER_FOR_SIGN_IN, [username.toLowerCase()]))[0];
}

// The columns of `User` (schema.ts), named: a prepared `u.*` would fail once a migration adds one.
const FIND_USER_FOR_SIGN_IN = `
  select u.id, u.username, u.email, u.password_hash, u.is_admin, u.email_verified, u.disabled_at, u.created_at,
    ${SECOND_FACTOR_OF_U} as has_second_factor
  from users u where lower(u.username) = $1`;

export function findUserById(db: Executor, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countUsers(db: Executor): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function updatePasswordHash(db: Executor, userId: string, passwordHash: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

/** A new address (or none) starts unverified. */
export async function updateEmail(db: Executor, userId: string, email: string | null): Promise<void> {
  await db.updateTable('users').set({ email, email_verified: false }).where('id', '=', userId).execute();
}
