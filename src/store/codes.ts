import type { Executor } from './executor.js';
import type { AuthorizationCode } from '../db/schema.js';
import { runCompiled } from './compiled.js';
import { issuedColumns, ISSUED_USER_JOIN, pairParameters, runIssuing, WRITE_PAIR, type PairToStore, type Written } from './issuing.js';

/** OpenID Connect facts a code carries to its grant (and ID token); each optional, absent: not known. */
export interface CodeSignIn {
  /** The authorization request's nonce, stated in the ID token of this code's exchange only. */
  nonce?: string | null;
  /** When, how and in which session (its public `sid`) the user authenticated. */
  authTime?: Date | null;
  sid?: string | null;
  amr?: string[] | null;
}

type SignInColumns = 'nonce' | 'auth_time' | 'sid' | 'amr' | 'resources';

export async function insertCode(
  db: Executor,
  code: Omit<AuthorizationCode, 'consumed_at' | 'created_at' | SignInColumns> & { created_at: Date },
  signIn: CodeSignIn = {},
  /** RFC 8707: the resources the request asked for, bound to the code and its grant. */
  resources: string[] = [],
): Promise<void> {
  await db
    .insertInto('authorization_codes')
    .values({
      ...code,
      consumed_at: null,
      nonce: signIn.nonce ?? null,
      auth_time: signIn.authTime ?? null,
      sid: signIn.sid ?? null,
      amr: signIn.amr ?? null,
      resources,
    })
    .execute();
}

/** What a code exchange found when it did not apply: the code as it stood after the attempt. */
export type CodeState = Pick<AuthorizationCode, 'client_id' | 'redirect_uri' | 'code_challenge' | 'expires_at' | 'consumed_at' | 'resources'>;

/**
 * What the request carries that the code must be bound to: the code is spent only
 * when its redirect URI is `redirectUri` (or it has none and `orUnbound`) and its
 * challenge is `challenge` (null only when `withoutChallenge`), and `resources`
 * (null: all the code's) are among the code's, when it has any (RFC 8707 §2.2).
 */
export interface CodeBinding {
  redirectUri: string | null;
  orUnbound: boolean;
  challenge: string | null;
  withoutChallenge: boolean;
  resources: string[] | null;
}

/* No explicit lock, for the reason given at refresh rotation (store/refresh-tokens.ts). */
const REDEEM_CODE = `
  with used as (
    update authorization_codes a set consumed_at = $1
    where a.code_digest = $7 and a.consumed_at is null and a.client_id = $2 and a.expires_at > $1
      and (a.redirect_uri is not distinct from $9::text or (a.redirect_uri is null and $10::boolean))
      and a.code_challenge is not distinct from $11::text and ($11::text is not null or $12::boolean)
      and ($13::text[] is null or cardinality(a.resources) = 0 or $13::text[] <@ a.resources)
    returning a.user_id, a.scope, a.nonce, a.auth_time, a.sid, a.amr, a.resources
  ), source as (
    insert into grants (id, client_id, user_id, scope, code_digest, created_at, auth_time, sid, amr, resources)
    select $8, $2, user_id, scope, $7, $1, auth_time, sid, amr, resources from used
    returning id as grant_id, user_id, scope, auth_time, sid, amr, coalesce($13::text[], resources) as audience
  ),
  ${WRITE_PAIR}
  select ${issuedColumns('(select nonce from used)')}
  from (select 1) one left join source s on true ${ISSUED_USER_JOIN}`;

const CODE_STATE = `
  select client_id, redirect_uri, code_challenge, expires_at, consumed_at, resources
  from authorization_codes where code_digest = $1`;

/**
 * The code exchange, in one statement: spends the code when it is unused, this
 * client's, unexpired and bound to `binding`, and opens its family with the
 * first pair, carrying the code's sign-in to the grant and reading the user for
 * the ID token (no second statement). Otherwise writes nothing and returns the
 * code's state (undefined: no such code), read by a second statement so that a
 * concurrent exchange that won is seen. Of concurrent exchanges of one code
 * exactly one spends it; the others see it spent.
 */
export async function redeemCode(
  db: Executor,
  input: { now: Date; clientUuid: string; codeDigest: string; grantId: string; binding: CodeBinding; pair: PairToStore },
): Promise<Written<CodeState | undefined>> {
  const { binding: b } = input;
  const written = await runIssuing<never>(db, REDEEM_CODE, [
    ...pairParameters(input.now, input.clientUuid, input.pair),
    input.codeDigest,
    input.grantId,
    b.redirectUri,
    b.orUnbound,
    b.challenge,
    b.withoutChallenge,
    b.resources,
  ]);
  if (written.issued) return written;
  return { issued: false, state: (await runCompiled<CodeState>(db, CODE_STATE, [input.codeDigest]))[0] };
}
