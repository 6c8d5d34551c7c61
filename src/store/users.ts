import { sql } from 'kysely';
import type { Executor } from './executor.js';
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
