import type { ClientStatus, RefreshToken } from '../db/schema.js';
import type { Executor } from './executor.js';
import { revokeAccessToken } from './access-tokens.js';
import { runCompiled } from './compiled.js';
import { issuedColumns, ISSUED_USER_JOIN, pairParameters, runIssuing, WRITE_PAIR, type PairToStore, type Written } from './issuing.js';

export interface RefreshTokenView extends RefreshToken {
  public_client_id: string;
  client_status: ClientStatus;
  /** The RFC 8707 resources its grant is bound to. */
  grant_resources: string[];
}

export function findRefreshToken(db: Executor, tokenDigest: string): Promise<RefreshTokenView | undefined> {
  return db
    .selectFrom('refresh_tokens as r')
    .innerJoin('clients as c', 'c.id', 'r.client_id')
    .innerJoin('grants as g', 'g.id', 'r.grant_id')
    .selectAll('r')
    .select(['c.client_id as public_client_id', 'c.status as client_status', 'g.resources as grant_resources'])
    .where('r.token_digest', '=', tokenDigest)
    .executeTakeFirst();
}

/** What a rotation found when it did not apply: the token as it stood after the attempt. */
export type RefreshState = Pick<RefreshToken, 'client_id' | 'grant_id' | 'scope' | 'expires_at' | 'rotated_at' | 'revoked_at' | 'replaced_by'>;

/*
 * No explicit lock: the update's own row lock serialises concurrent rotations,
 * and PostgreSQL re-checks the WHERE on the row a winner left, so a loser
 * updates nothing. Locking first (select ... for update) cost a second write
 * to the row and its WAL record on every rotation.
 */
const ROTATE = `
  with source as (
    update refresh_tokens r set rotated_at = $1, replaced_by = $5
    from grants g
    where r.token_digest = $7 and g.id = r.grant_id and r.client_id = $2
      and r.rotated_at is null and r.revoked_at is null and (r.expires_at is null or r.expires_at > $1)
    returning r.grant_id, r.user_id, coalesce($8::text, r.scope) as scope, r.access_token_digest, g.auth_time, g.sid, g.amr,
      coalesce($9::text[], g.resources) as audience
  ), old_access as (
    update access_tokens set revoked_at = $1
    where token_digest = (select access_token_digest from source) and revoked_at is null
  ),
  ${WRITE_PAIR}
  select ${issuedColumns()}
  from (select 1) one left join source s on true ${ISSUED_USER_JOIN}`;

const REFRESH_STATE = `
  select client_id, grant_id, scope, expires_at, rotated_at, revoked_at, replaced_by
  from refresh_tokens where token_digest = $1`;

/**
 * Refresh rotation, in one statement: when the token is this client's,
 * unrotated, unrevoked and unexpired (what isLive calls live), retires it, ends
 * its access token and stores the new pair in the same family with `scope`
 * (null: the same scope) and `resources` (null: the grant's), linked from the
 * old, reading the grant's sign-in and user for the ID token. Otherwise writes
 * nothing and returns the token's state (undefined: no such token), read by a
 * second statement so that a concurrent rotation that won is seen. Of
 * concurrent rotations of one token exactly one retires it; the others see it
 * retired.
 */
export async function rotateRefreshToken(
  db: Executor,
  input: { now: Date; clientUuid: string; tokenDigest: string; scope: string | null; resources: string[] | null; pair: PairToStore },
): Promise<Written<RefreshState | undefined>> {
  const written = await runIssuing<never>(db, ROTATE, [
    ...pairParameters(input.now, input.clientUuid, input.pair),
    input.tokenDigest,
    input.scope,
    input.resources,
  ]);
  if (written.issued) return written;
  return { issued: false, state: (await runCompiled<RefreshState>(db, REFRESH_STATE, [input.tokenDigest]))[0] };
}

/** What a retry found: whether the token still pointed at the expected successor. */
export interface RetryState {
  moved_on: boolean;
}

const ROTATE_AGAIN = `
  with prior as (
    select token_digest, grant_id, user_id, scope, replaced_by is not distinct from $8 and revoked_at is null as current
    from refresh_tokens where token_digest = $7
    for update
  ), lost as (
    select token_digest, rotated_at is null and revoked_at is null as untouched
    from refresh_tokens where token_digest = $8 and exists (select 1 from prior where current)
    for update
  ), retired as (
    update refresh_tokens r set revoked_at = $1 from lost
    where r.token_digest = lost.token_digest and lost.untouched
    returning r.access_token_digest
  ), lost_access as (
    update access_tokens set revoked_at = $1
    where token_digest = (select access_token_digest from retired) and revoked_at is null
  ), source as (
    update refresh_tokens r set replaced_by = $5 from prior join grants g on g.id = prior.grant_id
    where r.token_digest = prior.token_digest and exists (select 1 from retired)
    returning prior.grant_id, prior.user_id, coalesce($9::text, prior.scope) as scope, g.auth_time, g.sid, g.amr,
      coalesce($10::text[], g.resources) as audience
  ),
  ${WRITE_PAIR}
  select not coalesce((select current from prior), false) as moved_on, ${issuedColumns()}
  from (select 1) one left join source s on true ${ISSUED_USER_JOIN}`;

/**
 * A retry of a rotation whose answer was lost (the reuse grace), in one
 * statement: redoes the rotation of `tokenDigest`, retiring the pair it
 * produced (`successor`), while that pair is untouched and still the token's
 * successor (both locked, so concurrent retries take turns). Otherwise writes
 * nothing and says whether the token had moved on to another successor.
 */
export async function rotateAgain(
  db: Executor,
  input: {
    now: Date;
    clientUuid: string;
    tokenDigest: string;
    successor: string;
    scope: string | null;
    resources: string[] | null;
    pair: PairToStore;
  },
): Promise<Written<RetryState>> {
  const { now, clientUuid, pair } = input;
  const written = await runIssuing<RetryState>(db, ROTATE_AGAIN, [
    ...pairParameters(now, clientUuid, pair),
    input.tokenDigest,
    input.successor,
    input.scope,
    input.resources,
  ]);
  return written.issued ? written : { issued: false, state: written.state ?? { moved_on: true } };
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
