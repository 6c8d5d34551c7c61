import { sql } from 'kysely';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';

/** A user's TOTP row: confirmed (active) or still waiting for its first code. */
export function findTotp(db: Executor, userId: string) {
  return db.selectFrom('user_totp').select(['secret_sealed', 'confirmed_at', 'last_step']).where('user_id', '=', userId).executeTakeFirst();
}

/** Starts (or restarts) an enrolment; an already confirmed secret is left alone. True when the pending secret was stored. */
export async function savePendingTotp(db: Executor, row: { userId: string; secretSealed: string; now: Date }): Promise<boolean> {
  const result = await db
    .insertInto('user_totp')
    .values({ user_id: row.userId, secret_sealed: row.secretSealed, created_at: row.now })
    .onConflict((oc) =>
      oc.column('user_id').doUpdateSet({ secret_sealed: row.secretSealed, created_at: row.now, last_step: -1 }).where('user_totp.confirmed_at', 'is', null),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/**
 * Takes the code of time step `step`, in one statement: only a step later than
 * the last accepted one passes, so two requests racing with one code cannot
 * both win. `confirm` turns a pending secret active with the same rule.
 */
export async function acceptTotpStep(db: Executor, userId: string, step: number, opts: { confirmAt?: Date } = {}): Promise<boolean> {
  const result = await db
    .updateTable('user_totp')
    .set({ last_step: step, ...(opts.confirmAt ? { confirmed_at: opts.confirmAt } : {}) })
    .where('user_id', '=', userId)
    .where('last_step', '<', step)
    .where('confirmed_at', opts.confirmAt ? 'is' : 'is not', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Replaces the user's recovery codes with these digests. */
export async function replaceRecoveryCodes(db: Executor, userId: string, digests: string[]): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await db.insertInto('recovery_codes').values(digests.map((code_digest) => ({ user_id: userId, code_digest }))).execute();
}

/** Uses one recovery code, once: the update that marks it is the check. */
export async function useRecoveryCode(db: Executor, userId: string, codeDigest: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_digest', '=', codeDigest)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function countUnusedRecoveryCodes(db: Executor, userId: string): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Removes the secret and the recovery codes; true when there was a secret. */
export async function deleteTotp(db: Executor, userId: string): Promise<boolean> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  const result = await db.deleteFrom('user_totp').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Whether the user has an active second factor (a confirmed TOTP secret). */
export async function hasSecondFactor(db: Executor, userId: string): Promise<boolean> {
  const rows = await runCompiled<{ has: boolean }>(db, HAS_SECOND_FACTOR, [userId]);
  return rows[0]?.has ?? false;
}

/**
 * Whether the user aliased `u` has a second factor (a confirmed TOTP), as SQL:
 * the one statement of the rule, also in the sign-in's read of the user (users.ts).
 */
export const SECOND_FACTOR_OF_U = 'exists (select 1 from user_totp t where t.user_id = u.id and t.confirmed_at is not null)';

const HAS_SECOND_FACTOR = `select ${SECOND_FACTOR_OF_U} as has from users u where u.id = $1`;

export async function insertPendingSignin(db: Executor, row: { idDigest: string; userId: string; returnTo: string; now: Date; expiresAt: Date }): Promise<void> {
  await db
    .insertInto('pending_signins')
    .values({ id_digest: row.idDigest, user_id: row.userId, return_to: row.returnTo, created_at: row.now, expires_at: row.expiresAt })
    .execute();
}

export function findPendingSignin(db: Executor, idDigest: string, now: Date) {
  return db
    .selectFrom('pending_signins as p')
    .innerJoin('users as u', 'u.id', 'p.user_id')
    .select(['p.id_digest', 'p.user_id', 'p.return_to', 'u.username'])
    .where('p.id_digest', '=', idDigest)
    .where('p.expires_at', '>', now)
    .executeTakeFirst();
}

/**
 * Ends a pending sign-in, and any expired ones with it. True when this call
 * ended it while it lasted: of two requests finishing one sign-in, one wins.
 */
export async function takePendingSignin(db: Executor, idDigest: string, now: Date): Promise<boolean> {
  const result = await sql<{ id_digest: string; live: boolean }>`
    delete from pending_signins where id_digest = ${idDigest} or expires_at <= ${now}
    returning id_digest, expires_at > ${now} as live`.execute(db);
  return result.rows.some((r) => r.id_digest === idDigest && r.live);
}
