import type { SigningAlg, SigningKeyRow, SigningKeyState } from '../db/schema.js';
import type { Executor } from './executor.js';
import { inTransaction } from './transaction.js';

export interface NewSigningKey {
  kid: string;
  alg: SigningAlg;
  public_jwk: string;
  private_jwk_sealed: string;
}

/** Every key, newest first (for `keys list`). */
export function listSigningKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid').execute();
}

/** The keys a verifier may meet: next, current, and retired ones not yet past `delete_after`. */
export function listPublishedSigningKeys(db: Executor, now: Date): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) =>
      eb.or([eb('state', 'in', ['next', 'current']), eb.and([eb('state', '=', 'retired'), eb('delete_after', '>', now)])]),
    )
    .orderBy('created_at', 'desc')
    .execute();
}

/** Which of next/current each algorithm has, so start-up only generates what is missing. */
export async function liveSigningKeyStates(db: Executor): Promise<Array<{ alg: SigningAlg; state: SigningKeyState }>> {
  return db.selectFrom('signing_keys').select(['alg', 'state']).where('state', 'in', ['next', 'current']).execute();
}

/**
 * Inserts a key as the algorithm's current or next key unless it already has one
 * (another instance won the race); true when this one was inserted.
 */
export async function insertSigningKeyIfAbsent(
  db: Executor,
  key: NewSigningKey,
  state: 'current' | 'next',
  now: Date,
): Promise<boolean> {
  const inserted = await db
    .insertInto('signing_keys')
    .values({ ...key, state, created_at: now, activated_at: state === 'current' ? now : null })
    .onConflict((oc) => oc.column('alg').where('state', '=', state).doNothing())
    .returning('kid')
    .executeTakeFirst();
  return inserted !== undefined;
}

export interface Rotation {
  retired: string;
  promoted: string;
}

/**
 * One transaction: retires the algorithm's current key (only if it was activated
 * at or before `activatedBy`, so a racing instance that already rotated makes
 * this a no-op), promotes the next key, and inserts `fresh` as the new next key.
 * Null when nothing was rotated.
 */
export function rotateSigningKey(
  db: Executor,
  alg: SigningAlg,
  fresh: NewSigningKey,
  at: { now: Date; activatedBy: Date; deleteAfter: Date },
): Promise<Rotation | null> {
  return inTransaction(db, async (trx) => {
    // The row lock taken here serialises racing rotations; the loser re-reads the row, finds it retired, and stops.
    const retired = await trx
      .updateTable('signing_keys')
      .set({ state: 'retired', retired_at: at.now, delete_after: at.deleteAfter })
      .where('alg', '=', alg)
      .where('state', '=', 'current')
      .where('activated_at', '<=', at.activatedBy)
      .returning('kid')
      .executeTakeFirst();
    if (!retired) return null;
    const promoted = await trx
      .updateTable('signing_keys')
      .set({ state: 'current', activated_at: at.now })
      .where('alg', '=', alg)
      .where('state', '=', 'next')
      .returning('kid')
      .executeTakeFirst();
    // Never leave an algorithm without a current key: undo the retirement.
    if (!promoted) throw new Error(`no next ${alg} key to promote`);
    await trx
      .insertInto('signing_keys')
      .values({ ...fresh, state: 'next', created_at: at.now, activated_at: null })
      .execute();
    return { retired: retired.kid, promoted: promoted.kid };
  });
}

/** The longest access-token lifetime any client overrides the default with (0: none does). */
export async function longestClientAccessTokenTtl(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('clients')
    .select((eb) => eb.fn.max('access_token_ttl').as('ttl'))
    .executeTakeFirst();
  return Number(row?.ttl ?? 0);
}
