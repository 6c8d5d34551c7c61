import { sql } from 'kysely';
import type { Executor } from './executor.js';

export interface NewPasskey {
  id: string;
  userId: string;
  name: string;
  publicKey: string;
  counter: number;
  deviceType: string;
  backedUp: boolean;
  transports: string[];
  now: Date;
}

/** Stores a new credential; false when that credential id is already registered (to anyone). */
export async function insertPasskey(db: Executor, p: NewPasskey): Promise<boolean> {
  const result = await db
    .insertInto('passkeys')
    .values({
      id: p.id,
      user_id: p.userId,
      name: p.name,
      public_key: p.publicKey,
      counter: p.counter,
      device_type: p.deviceType,
      backed_up: p.backedUp,
      transports: p.transports,
      created_at: p.now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

/** A user's passkeys, oldest first. */
export function listPasskeys(db: Executor, userId: string) {
  return db
    .selectFrom('passkeys')
    .select(['id', 'name', 'transports', 'device_type', 'backed_up', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** The credential with this id and its owner's name, for a sign-in. */
export function findPasskey(db: Executor, id: string) {
  return db
    .selectFrom('passkeys as p')
    .innerJoin('users as u', 'u.id', 'p.user_id')
    .select(['p.id', 'p.user_id', 'p.name', 'p.public_key', 'p.counter', 'p.transports', 'u.username', 'u.disabled_at'])
    .where('p.id', '=', id)
    .executeTakeFirst();
}

/**
 * Records a use: the new counter and backup state. The counter only moves
 * forward (an equal or lower one from a clone loses the race); zero stays zero
 * for authenticators that keep no counter.
 */
export async function recordPasskeyUse(db: Executor, id: string, use: { counter: number; backedUp: boolean; now: Date }): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ counter: use.counter, backed_up: use.backedUp, last_used_at: use.now })
    .where('id', '=', id)
    .where(sql<boolean>`(counter < ${use.counter} or (counter = 0 and ${use.counter}::bigint = 0))`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function renamePasskey(db: Executor, userId: string, id: string, name: string): Promise<boolean> {
  const result = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Removes one of the user's passkeys; its name when there was one. */
export async function deletePasskey(db: Executor, userId: string, id: string): Promise<string | null> {
  const row = await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).returning('name').executeTakeFirst();
  return row?.name ?? null;
}

export async function insertChallenge(
  db: Executor,
  row: { idDigest: string; purpose: 'register' | 'signin'; userId: string | null; challenge: string; returnTo: string | null; now: Date; expiresAt: Date },
): Promise<void> {
  // Challenges asked for and never answered go with the next one.
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', row.now).execute();
  await db
    .insertInto('webauthn_challenges')
    .values({
      id_digest: row.idDigest,
      purpose: row.purpose,
      user_id: row.userId,
      challenge: row.challenge,
      return_to: row.returnTo,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

/**
 * Takes the challenge, once: the delete is the check, so of two answers to one
 * challenge at most one is verified. Undefined when unknown, used or expired.
 */
export async function takeChallenge(db: Executor, idDigest: string, purpose: 'register' | 'signin', now: Date) {
  const row = await db
    .deleteFrom('webauthn_challenges')
    .where('id_digest', '=', idDigest)
    .returning(['user_id', 'challenge', 'return_to', 'expires_at', 'purpose'])
    .executeTakeFirst();
  if (!row || row.purpose !== purpose || row.expires_at <= now) return undefined;
  return row;
}
