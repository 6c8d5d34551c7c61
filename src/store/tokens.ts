import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';
import { sql, type Selectable } from 'kysely';
import type { AccessTokenKind, ClientStatus, GrantsTable, RefreshToken } from '../db/schema.js';

export type GrantRow = Omit<Selectable<GrantsTable>, 'revoked_at'>;

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

const INSERT_ACCESS_TOKEN = `
  insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, label, expires_at, revoked_at, created_at)
  values ($1, $2, $3, $4, $5, $6, $7, $8, null, $9)
  returning id`;

export async function insertAccessToken(db: Executor, token: NewAccessToken): Promise<{ id: string }> {
  const rows = await runCompiled<{ id: string }>(db, INSERT_ACCESS_TOKEN, [
    token.token_digest,
    token.grant_id,
    token.client_id,
    token.user_id,
    token.scope,
    token.kind,
    token.label ?? null,
    token.expires_at,
    token.created_at,
  ]);
  return rows[0]!;
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

const FIND_ACCESS_TOKEN = `
  select t.token_digest, t.grant_id, t.client_id as client_uuid, c.client_id, c.status as client_status,
         t.user_id, u.username, u.email, t.scope, t.kind, t.expires_at, t.revoked_at, t.created_at
  from access_tokens t
  join clients c on c.id = t.client_id
  left join users u on u.id = t.user_id
  where t.token_digest = $1`;

export async function findAccessToken(db: Executor, tokenDigest: string): Promise<AccessTokenView | undefined> {
  return (await runCompiled<AccessTokenView>(db, FIND_ACCESS_TOKEN, [tokenDigest]))[0];
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

/** Marks the live rows of `table` whose uuid `column` is one of `ids` as revoked. */
async function revokeLive(
  db: Executor,
  table: 'grants' | 'access_tokens' | 'refresh_tokens',
  column: 'id' | 'grant_id' | 'client_id',
  ids: string[],
  now: Date,
): Promise<void> {
  await sql`update ${sql.table(table)} set revoked_at = ${now}
    where ${sql.ref(column)} = any(${ids}::uuid[]) and revoked_at is null`.execute(db);
}

/** Ends every token of the given grants (families). */
export async function revokeGrants(db: Executor, grantIds: string[], now: Date): Promise<void> {
  if (grantIds.length === 0) return;
  await revokeLive(db, 'grants', 'id', grantIds, now);
  await revokeLive(db, 'access_tokens', 'grant_id', grantIds, now);
  await revokeLive(db, 'refresh_tokens', 'grant_id', grantIds, now);
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
  for (const table of ['grants', 'access_tokens', 'refresh_tokens'] as const) {
    await revokeLive(db, table, 'client_id', [clientUuid], now);
  }
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

/** A new access/refresh pair, its digests and expiries decided by the caller. */
export interface PairToStore {
  accessDigest: string;
  accessExpiresAt: Date | null;
  /** Absent: an access token only. */
  refreshDigest?: string;
  refreshExpiresAt?: Date | null;
}

const ROTATE_AT_ONCE = `
  with retired as (
    update refresh_tokens set rotated_at = $3, replaced_by = $6
    where token_digest = $1 and rotated_at is null and revoked_at is null
      and client_id = $2 and (expires_at is null or expires_at > $3)
    returning grant_id, user_id, scope, access_token_digest
  ), old_access as (
    update access_tokens set revoked_at = $3
    where token_digest = (select access_token_digest from retired) and revoked_at is null
  ), new_access as (
    insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, label, expires_at, revoked_at, created_at)
    select $4, grant_id, $2, user_id, scope, 'bearer', null, $5, null, $3 from retired
  )
  insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, rotated_at, replaced_by, revoked_at, created_at)
  select $6, grant_id, $2, user_id, $4, scope, $7, null, null, null, $3 from retired
  returning scope`;

/**
 * The common refresh in one statement (so one round trip, and atomic): retires the
 * live refresh token of this client, ends its access token, stores the new pair in
 * the same family with the same scope, and links old to new. Returns the scope, or
 * undefined when the token is not live for this client: the caller then takes the
 * step-by-step path, which tells reuse, grace and plain invalid apart.
 */
export async function rotateRefreshTokenAtOnce(
  db: Executor,
  input: { refreshDigest: string; clientUuid: string; now: Date; pair: Required<PairToStore> },
): Promise<{ scope: string } | undefined> {
  const { pair } = input;
  const rows = await runCompiled<{ scope: string }>(db, ROTATE_AT_ONCE, [
    input.refreshDigest,
    input.clientUuid,
    input.now,
    pair.accessDigest,
    pair.accessExpiresAt,
    pair.refreshDigest,
    pair.refreshExpiresAt,
  ]);
  return rows[0];
}

const REDEEM_CODE = (withRefresh: boolean) => `
  with used as (
    update authorization_codes set consumed_at = $3
    where code_digest = $1 and consumed_at is null and client_id = $2 and expires_at > $3
      and redirect_uri is not distinct from $4::text
      and (case when $5::text is null then code_challenge is null else code_challenge = $5::text end)
    returning user_id, scope
  ), new_grant as (
    insert into grants (id, client_id, user_id, scope, code_digest, revoked_at, created_at)
    select $6, $2, user_id, scope, $1, null, $3 from used
  ), new_access as (
    insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, label, expires_at, revoked_at, created_at)
    select $7, $6, $2, user_id, scope, 'bearer', null, $8, null, $3 from used
  )
  ${
    withRefresh
      ? `insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, rotated_at, replaced_by, revoked_at, created_at)
         select $9, $6, $2, user_id, $7, scope, $10, null, null, null, $3 from used
         returning scope`
      : `select scope from used`
  }`;
const REDEEM_WITH_REFRESH = REDEEM_CODE(true);
const REDEEM_WITHOUT_REFRESH = REDEEM_CODE(false);

/**
 * The common code exchange in one statement: consumes the code when it is
 * unused, this client's, unexpired, for exactly this redirect URI (or none) and
 * this PKCE challenge (or none), and opens its grant family with the first pair.
 * Returns the scope, or undefined when any of that fails: the caller then takes
 * the step-by-step path, which gives the precise error and detects reuse.
 */
export async function redeemCodeAtOnce(
  db: Executor,
  input: { codeDigest: string; clientUuid: string; now: Date; redirectUri: string | null; challenge: string | null; grantId: string; pair: PairToStore },
): Promise<{ scope: string } | undefined> {
  const { pair } = input;
  const rows = await runCompiled<{ scope: string }>(db, pair.refreshDigest ? REDEEM_WITH_REFRESH : REDEEM_WITHOUT_REFRESH, [
    input.codeDigest,
    input.clientUuid,
    input.now,
    input.redirectUri,
    input.challenge,
    input.grantId,
    pair.accessDigest,
    pair.accessExpiresAt,
    ...(pair.refreshDigest ? [pair.refreshDigest, pair.refreshExpiresAt ?? null] : []),
  ]);
  return rows[0];
}
