import type { Insertable } from 'kysely';
import type { AccessTokensTable, RefreshTokensTable } from '../db/schema.js';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';

/** A new access/refresh pair as stored: digests and expiries, decided by the caller. */
export interface PairToStore {
  access: Required<Pick<Insertable<AccessTokensTable>, 'token_digest' | 'expires_at'>>;
  /** Null: an access token only. */
  refresh: Required<Pick<Insertable<RefreshTokensTable>, 'token_digest' | 'expires_at'>> | null;
}

/**
 * What a statement that issues tokens reports: the scope of the pair it wrote,
 * or, when its step did not apply, the state it found (for the caller to judge).
 */
export type Written<S> = { issued: true; scope: string } | { issued: false; state: S };

/**
 * The tail of every statement that issues tokens: writes the new pair from the
 * rows of a `source` CTE (grant_id, user_id, scope). Parameters $1-$6 are the
 * same in all of them (see pairParameters); a statement's own start at $7.
 */
export const WRITE_PAIR = `
  new_access as (
    insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at)
    select $3, grant_id, $2, user_id, scope, 'bearer', $4, $1 from source
  ), new_refresh as (
    insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
    select $5, grant_id, $2, user_id, $3, scope, $6, $1 from source where $5::text is not null
  )`;

export function pairParameters(now: Date, clientUuid: string, pair: PairToStore): unknown[] {
  return [now, clientUuid, pair.access.token_digest, pair.access.expires_at, pair.refresh?.token_digest ?? null, pair.refresh?.expires_at ?? null];
}

/** Runs an issuing statement whose result rows carry `issued_scope` (null when nothing was written). */
export async function runIssuing<S extends object>(
  db: Executor,
  text: string,
  parameters: unknown[],
): Promise<Written<S | undefined>> {
  const row = (await runCompiled<S & { issued_scope: string | null }>(db, text, parameters))[0];
  if (!row) return { issued: false, state: undefined };
  if (row.issued_scope !== null) return { issued: true, scope: row.issued_scope };
  const { issued_scope: _, ...state } = row;
  return { issued: false, state: state as unknown as S };
}

const ISSUE_ALONE = `
  with source as (select null::uuid as grant_id, $7::uuid as user_id, $8::text as scope),
  ${WRITE_PAIR}
  select scope as issued_scope from source`;

/** An access token outside any family (client credentials, implicit grant): one statement. */
export async function issueAccessToken(
  db: Executor,
  input: { now: Date; clientUuid: string; userId: string | null; scope: string; pair: PairToStore },
): Promise<Written<undefined>> {
  return runIssuing<never>(db, ISSUE_ALONE, [...pairParameters(input.now, input.clientUuid, input.pair), input.userId, input.scope]);
}

const OPEN_GRANT = `
  with source as (
    insert into grants (id, client_id, user_id, scope, created_at)
    values ($7, $2, $8, $9, $1)
    returning id as grant_id, user_id, scope
  ),
  ${WRITE_PAIR}
  select scope as issued_scope from source`;

/** A new family (grant) with its first pair, in one statement. */
export async function openGrant(
  db: Executor,
  input: { now: Date; clientUuid: string; grantId: string; userId: string | null; scope: string; pair: PairToStore },
): Promise<Written<undefined>> {
  const { now, clientUuid, pair } = input;
  return runIssuing<never>(db, OPEN_GRANT, [...pairParameters(now, clientUuid, pair), input.grantId, input.userId, input.scope]);
}
