import type { Executor } from './executor.js';
import type { AccessTokenKind, ClientStatus, RefreshToken } from '../db/schema.js';

export interface GrantRow {
  id: string;
  client_id: string;
  user_id: string | null;
  scope: string;
  code_digest: string | null;
  created_at: Date;
}

export async function insertGrant(db: Executor, grant: GrantRow): Promise<void> {
  await db.insertInto('grants').values({ ...grant, revoked_at: null }).execute();
}

export interface NewAccessToken {
  token_digest: string;
  grant_id: string | null;
  client_id: string;
  user_id: string | null;
  scope: string;
  kind: AccessTokenKind;
  label?: string | null;
  expires_at: Date | null;
  created_at: Date;
}

export async function insertAccessToken(db: Executor, token: NewAccessToken): Promise<{ id: string }> {
  return db
    .insertInto('access_tokens')
    .values({ ...token, label: token.label ?? null, revoked_at: null })
    .returning('id')
    .executeTakeFirstOrThrow();
}

export interface NewRefreshToken {
  token_digest: string;
  grant_id: string;
  client_id: string;
  user_id: string | null;
  access_token_digest: string;
  scope: string;
  expires_at: Date | null;
  created_at: Date;
}

export async function insertRefreshToken(db: Executor, token: NewRefreshToken): Promise<void> {
  await db
    .insertInto('refresh_tokens')
    .values({ ...token, rotated_at: null, replaced_by: null, revoked_at: null })
    .execute();
}

/** An access token with what validating and introspecting it needs, in one indexed lookup. */
export interface AccessTokenView {
  token_digest: string;
  grant_id: string | null;
  client_uuid: string;
  client_id: string;
  client_status: ClientStatus;
  user_id: string | null;
  username: string | null;
  email: string | null;
  scope: string;
  kind: AccessTokenKind;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

export function findAccessToken(db: Executor, tokenDigest: string): Promise<AccessTokenView | undefined> {
  return db
    .selectFrom('access_tokens as t')
    .innerJoin('clients as c', 'c.id', 't.client_id')
    .leftJoin('users as u', 'u.id', 't.user_id')
    .select([
      't.token_digest',
      't.grant_id',
      't.client_id as client_uuid',
      'c.client_id',
      'c.status as client_status',
      't.user_id',
      'u.username',
      'u.email',
      't.scope',
      't.kind',
      't.expires_at',
      't.revoked_at',
      't.created_at',
    ])
    .where('t.token_digest', '=', tokenDigest)
    .executeTakeFirst();
}

export interface RefreshTokenView extends RefreshToken {
  public_client_id: string;
}

export function findRefreshToken(db: Executor, tokenDigest: string): Promise<RefreshTokenView | undefined> {
  return db
    .selectFrom('refresh_tokens as r')
    .innerJoin('clients as c', 'c.id', 'r.client_id')
    .selectAll('r')
    .select('c.client_id as public_client_id')
    .where('r.token_digest', '=', tokenDigest)
    .executeTakeFirst();
}

/**
 * Retires a live refresh token and returns it, in one statement: of concurrent
 * rotations of one token exactly one gets the row.
 */
export function retireRefreshToken(db: Executor, tokenDigest: string, now: Date): Promise<RefreshToken | undefined> {
  return db
    .updateTable('refresh_tokens')
    .set({ rotated_at: now })
    .where('token_digest', '=', tokenDigest)
    .where('rotated_at', 'is', null)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Points a retired token at its successor, only if it still points at `expected` (compare-and-swap). */
export async function replaceSuccessor(
  db: Executor,
  tokenDigest: string,
  expected: string | null,
  successor: string,
): Promise<boolean> {
  let q = db.updateTable('refresh_tokens').set({ replaced_by: successor }).where('token_digest', '=', tokenDigest);
  q = expected === null ? q.where('replaced_by', 'is', null) : q.where('replaced_by', '=', expected);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Ends one access token alone (its refresh token was just rotated, not revoked). */
export async function revokeAccessToken(db: Executor, accessDigest: string, now: Date): Promise<void> {
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('token_digest', '=', accessDigest)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ends one access token and the refresh token paired with it. */
export async function revokePairByAccess(db: Executor, accessDigest: string, now: Date): Promise<void> {
  await revokeAccessToken(db, accessDigest, now);
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('access_token_digest', '=', accessDigest)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ends one refresh token and the access token paired with it. */
export async function revokePairByRefresh(db: Executor, refreshDigest: string, now: Date): Promise<void> {
  const row = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('token_digest', '=', refreshDigest)
    .where('revoked_at', 'is', null)
    .returning('access_token_digest')
    .executeTakeFirst();
  if (row?.access_token_digest) await revokeAccessToken(db, row.access_token_digest, now);
}

/** Ends every token of the given grants (families). */
export async function revokeGrants(db: Executor, grantIds: string[], now: Date): Promise<void> {
  if (grantIds.length === 0) return;
  await db.updateTable('grants').set({ revoked_at: now }).where('id', 'in', grantIds).where('revoked_at', 'is', null).execute();
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('grant_id', 'in', grantIds)
    .where('revoked_at', 'is', null)
    .execute();
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('grant_id', 'in', grantIds)
    .where('revoked_at', 'is', null)
    .execute();
}

export async function grantIdsForCode(db: Executor, codeDigest: string): Promise<string[]> {
  const rows = await db.selectFrom('grants').select('id').where('code_digest', '=', codeDigest).execute();
  return rows.map((r) => r.id);
}

/** Ends every token a user holds for a client, personal tokens included. */
export async function revokeClientUserTokens(db: Executor, clientUuid: string, userId: string, now: Date): Promise<void> {
  const grants = await db
    .selectFrom('grants')
    .select('id')
    .where('client_id', '=', clientUuid)
    .where('user_id', '=', userId)
    .execute();
  await revokeGrants(
    db,
    grants.map((g) => g.id),
    now,
  );
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('client_id', '=', clientUuid)
    .where('user_id', '=', userId)
    .where('kind', '=', 'bearer')
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ends every live token of a client (suspension, secret compromise). */
export async function revokeClientTokens(db: Executor, clientUuid: string, now: Date): Promise<void> {
  await db
    .updateTable('grants')
    .set({ revoked_at: now })
    .where('client_id', '=', clientUuid)
    .where('revoked_at', 'is', null)
    .execute();
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('client_id', '=', clientUuid)
    .where('revoked_at', 'is', null)
    .execute();
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('client_id', '=', clientUuid)
    .where('revoked_at', 'is', null)
    .execute();
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
