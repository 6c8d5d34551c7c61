import type { ClientStatus, RefreshToken } from '../db/schema.js';
import type { Executor } from './executor.js';
import { revokeAccessToken } from './access-tokens.js';
import { pairParameters, runIssuing, WRITE_PAIR, type PairToStore, type Written } from './issuing.js';

export interface RefreshTokenView extends RefreshToken {
  public_client_id: string;
  client_status: ClientStatus;
}

export function findRefreshToken(db: Executor, tokenDigest: string): Promise<RefreshTokenView | undefined> {
  return db
    .selectFrom('refresh_tokens as r')
    .innerJoin('clients as c', 'c.id', 'r.client_id')
    .selectAll('r')
    .select(['c.client_id as public_client_id', 'c.status as client_status'])
    .where('r.token_digest', '=', tokenDigest)
    .executeTakeFirst();
}

/** What a rotation found: the token as it stood once locked, and whether the token it was rotated into has been used. */
export type RefreshState = Pick<
  RefreshToken,
  'client_id' | 'grant_id' | 'scope' | 'expires_at' | 'rotated_at' | 'revoked_at' | 'replaced_by'
> & { successor_used: boolean | null };

const ROTATE = `
  with cur as (
    select token_digest, client_id, grant_id, user_id, scope, access_token_digest, expires_at, rotated_at, revoked_at, replaced_by
    from refresh_tokens where token_digest = $7
    for update
  ), source as (
    update refresh_tokens r set rotated_at = $1, replaced_by = $5
    from cur
    where r.token_digest = cur.token_digest and cur.client_id = $2
      and cur.rotated_at is null and cur.revoked_at is null and (cur.expires_at is null or cur.expires_at > $1)
    returning r.grant_id, r.user_id, coalesce($8::text, r.scope) as scope, r.access_token_digest
  ), old_access as (
    update access_tokens set revoked_at = $1
    where token_digest = (select access_token_digest from source) and revoked_at is null
  ),
  ${WRITE_PAIR}
  select cur.client_id, cur.grant_id, cur.scope, cur.expires_at, cur.rotated_at, cur.revoked_at, cur.replaced_by,
         case when s.token_digest is null then null else s.rotated_at is not null or s.revoked_at is not null end as successor_used,
         (select scope from source) as issued_scope
  from cur left join refresh_tokens s on s.token_digest = cur.replaced_by`;

/**
 * Refresh rotation, in one statement: locks the token and, when it is this
 * client's, unrotated, unrevoked and unexpired (what isLive calls live), retires
 * it, ends its access token and stores the new pair in the same family with
 * `scope` (null: the same scope), linked from the old. Otherwise writes nothing
 * and returns the token's state (undefined: no such token). Of concurrent
 * rotations of one token exactly one retires it; the others see it retired.
 */
export function rotateRefreshToken(
  db: Executor,
  input: { now: Date; clientUuid: string; tokenDigest: string; scope: string | null; pair: PairToStore },
): Promise<Written<RefreshState | undefined>> {
  return runIssuing<RefreshState>(db, ROTATE, [...pairParameters(input.now, input.clientUuid, input.pair), input.tokenDigest, input.scope]);
}

const ROTATE_AGAIN = `
  with prior as (
    select token_digest, grant_id, user_id, scope from refresh_tokens
    where token_digest = $7 and replaced_by = $8 and revoked_at is null
    for update
  ), lost as (
    select token_digest from refresh_tokens
    where token_digest = $8 and rotated_at is null and revoked_at is null and exists (select 1 from prior)
    for update
  ), retired as (
    update refresh_tokens r set revoked_at = $1 from lost
    where r.token_digest = lost.token_digest
    returning r.access_token_digest
  ), lost_access as (
    update access_tokens set revoked_at = $1
    where token_digest = (select access_token_digest from retired) and revoked_at is null
  ), source as (
    update refresh_tokens r set replaced_by = $5 from prior
    where r.token_digest = prior.token_digest and exists (select 1 from retired)
    returning prior.grant_id, prior.user_id, coalesce($9::text, prior.scope) as scope
  ),
  ${WRITE_PAIR}
  select (select scope from source) as issued_scope`;

/**
 * A retry of a rotation whose answer was lost (the reuse grace): redoes the
 * rotation of `tokenDigest`, retiring the pair it produced (`successor`), as
 * long as that pair is untouched and still the token's successor. Returns
 * whether it wrote the new pair; not writing means a concurrent request changed
 * either token since the caller looked.
 */
export async function rotateAgain(
  db: Executor,
  input: { now: Date; clientUuid: string; tokenDigest: string; successor: string; scope: string | null; pair: PairToStore },
): Promise<Written<undefined>> {
  const { now, clientUuid, pair } = input;
  const written = await runIssuing<object>(db, ROTATE_AGAIN, [...pairParameters(now, clientUuid, pair), input.tokenDigest, input.successor, input.scope]);
  return written.issued ? written : { issued: false, state: undefined };
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
