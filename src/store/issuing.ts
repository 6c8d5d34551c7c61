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
 * The user behind a pair just written and the sign-in behind its grant, read by
 * the statement that wrote it (an ID token states them). Null fields: not known.
 */
export interface IssuedUser {
  user_id: string;
  username: string;
  email: string | null;
  email_verified: boolean;
  auth_time: Date | null;
  sid: string | null;
  amr: string[] | null;
  /** Only a code exchange has one: the nonce is never repeated on refresh. */
  nonce: string | null;
}

/**
 * What a statement that issues tokens reports: the scope of the pair it wrote
 * and its user (null: an app's token), or, when its step did not apply, the
 * state it found (for the caller to judge).
 */
export type Written<S> = { issued: true; scope: string; audience: string[]; user: IssuedUser | null } | { issued: false; state: S };

/**
 * The tail of every statement that issues tokens: writes the new pair from the
 * rows of a `source` CTE (grant_id, user_id, scope, auth_time, sid, amr,
 * audience: the RFC 8707 resources the access token is for).
 * Parameters $1-$6 are the same in all of them (see pairParameters); a
 * statement's own start at $7. Its final select reads issuedColumns() from
 * `source s` and ISSUED_USER_JOIN, so the user comes back with the pair.
 */
export const WRITE_PAIR = `
  new_access as (
    insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at, audience)
    select $3, grant_id, $2, user_id, scope, 'bearer', $4, $1, audience from source
  ), new_refresh as (
    insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
    select $5, grant_id, $2, user_id, $3, scope, $6, $1 from source where $5::text is not null
  )`;

/** The final select's columns for runIssuing: what was issued, to whom; `nonce` is the statement's own. */
export const issuedColumns = (nonce = 'null::text') => `
  s.scope as issued_scope, s.audience as issued_audience, s.user_id as issued_user_id, u.username as issued_username, u.email as issued_email,
  u.email_verified as issued_email_verified, s.auth_time as issued_auth_time, s.sid as issued_sid, s.amr as issued_amr,
  ${nonce} as issued_nonce`;
/** Joined to the final select's `source s`: the pair's user. */
export const ISSUED_USER_JOIN = `left join users u on u.id = s.user_id`;

/** A `source` CTE's sign-in columns for a pair no sign-in stands behind (an app's token). */
export const NO_SIGN_IN = `null::timestamptz as auth_time, null::text as sid, null::text[] as amr`;

export function pairParameters(now: Date, clientUuid: string, pair: PairToStore): unknown[] {
  return [now, clientUuid, pair.access.token_digest, pair.access.expires_at, pair.refresh?.token_digest ?? null, pair.refresh?.expires_at ?? null];
}

type IssuedRow = { issued_scope: string | null; issued_audience: string[] | null } & { [K in keyof IssuedUser as `issued_${K}`]: IssuedUser[K] | null };

/** Runs an issuing statement whose result rows carry issuedColumns (issued_scope null when nothing was written). */
export async function runIssuing<S extends object>(
  db: Executor,
  text: string,
  parameters: unknown[],
): Promise<Written<S | undefined>> {
  const row = (await runCompiled<S & IssuedRow>(db, text, parameters))[0];
  if (!row) return { issued: false, state: undefined };
  const state: Record<string, unknown> = {};
  const issued: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith('issued_')) issued[name.slice('issued_'.length)] = value;
    else state[name] = value;
  }
  if (row.issued_scope === null) return { issued: false, state: state as S };
  const { scope, audience, ...user } = issued as unknown as { scope: string; audience: string[] } & IssuedUser;
  return { issued: true, scope, audience, user: user.user_id === null ? null : user };
}

const ISSUE_ALONE = `
  with source as (select null::uuid as grant_id, $7::uuid as user_id, $8::text as scope, ${NO_SIGN_IN}, $9::text[] as audience),
  ${WRITE_PAIR}
  select ${issuedColumns()} from source s ${ISSUED_USER_JOIN}`;

/** An access token outside any family (client credentials, implicit grant): one statement. */
export async function issueAccessToken(
  db: Executor,
  input: { now: Date; clientUuid: string; userId: string | null; scope: string; resources: string[]; pair: PairToStore },
): Promise<Written<undefined>> {
  return runIssuing<never>(db, ISSUE_ALONE, [...pairParameters(input.now, input.clientUuid, input.pair), input.userId, input.scope, input.resources]);
}

const OPEN_GRANT = `
  with source as (
    insert into grants (id, client_id, user_id, scope, created_at, auth_time, amr, resources)
    values ($7, $2, $8, $9, $1, $10, $11, $12)
    returning id as grant_id, user_id, scope, auth_time, sid, amr, resources as audience
  ),
  ${WRITE_PAIR}
  select ${issuedColumns()} from source s ${ISSUED_USER_JOIN}`;

/**
 * A new family (grant) with its first pair, in one statement. `signIn`: the
 * user authenticated in this very request (the password grant), how.
 */
export async function openGrant(
  db: Executor,
  input: {
    now: Date;
    clientUuid: string;
    grantId: string;
    userId: string | null;
    scope: string;
    resources: string[];
    pair: PairToStore;
    signIn?: { amr: string[] };
  },
): Promise<Written<undefined>> {
  const { now, clientUuid, pair, signIn } = input;
  return runIssuing<never>(db, OPEN_GRANT, [
    ...pairParameters(now, clientUuid, pair),
    input.grantId,
    input.userId,
    input.scope,
    signIn ? now : null,
    signIn?.amr ?? null,
    input.resources,
  ]);
}
