import type { Insertable } from 'kysely';
import type { AccessTokensTable } from '../db/schema.js';
import type { Executor } from './executor.js';

export type NewPersonalToken = Omit<Insertable<AccessTokensTable>, 'id' | 'kind' | 'grant_id' | 'revoked_at'>;

/** A personal token: an access token outside any family, of kind 'personal'. */
export async function insertPersonalToken(db: Executor, token: NewPersonalToken): Promise<{ id: string }> {
  return db
    .insertInto('access_tokens')
    .values({ ...token, kind: 'personal', grant_id: null, revoked_at: null })
    .returning('id')
    .executeTakeFirstOrThrow();
}

export function listPersonalTokens(db: Executor, clientUuid: string, userId?: string) {
  let q = db
    .selectFrom('access_tokens as t')
    .leftJoin('users as u', 'u.id', 't.user_id')
    .select(['t.id', 't.label', 't.scope', 't.expires_at', 't.revoked_at', 't.created_at', 'u.username'])
    .where('t.client_id', '=', clientUuid)
    .where('t.kind', '=', 'personal')
    .orderBy('t.created_at', 'asc');
  if (userId) q = q.where('t.user_id', '=', userId);
  return q.execute();
}

export async function revokePersonalToken(
  db: Executor,
  clientUuid: string,
  tokenId: string,
  now: Date,
  userId?: string,
): Promise<boolean> {
  let q = db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('id', '=', tokenId)
    .where('client_id', '=', clientUuid)
    .where('kind', '=', 'personal')
    .where('revoked_at', 'is', null);
  if (userId) q = q.where('user_id', '=', userId);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
