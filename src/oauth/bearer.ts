import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { findAccessToken, type AccessTokenView } from '../store/access-tokens.js';
import { accessTokenDigest, MAX_JWT_LENGTH, type AccessTokenVerifier } from './jwt-access-token.js';
import { OAuthError } from './errors.js';
import { parseScope } from './scopes.js';
import { tokenState, type TokenState } from './token-state.js';

const UNUSABLE: Record<Exclude<TokenState, 'live'>, string> = {
  revoked: 'The access token was revoked',
  // Access tokens are never rotated; listed for completeness of the vocabulary.
  rotated: 'The access token was revoked',
  expired: 'The access token expired',
  client_inactive: 'The access token belongs to an application that is not active',
};

/** Why a token is not usable, or null when it is. */
function tokenProblem(token: AccessTokenView | undefined, now: Date): string | null {
  if (!token) return 'The access token is invalid';
  const state = tokenState(token, token.client_status, now);
  return state === 'live' ? null : UNUSABLE[state];
}

export const BEARER_REALM = 'latch';

function challenge(error?: string, description?: string, scope?: string): string {
  const parts = [`realm="${BEARER_REALM}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * An RFC 6750 §3.1 error for a protected resource, with the WWW-Authenticate
 * challenge that carries the same code and description.
 */
export function bearerError(
  code: 'invalid_request' | 'invalid_token' | 'insufficient_scope',
  description: string,
  scope?: string,
): OAuthError {
  return new OAuthError(code, description, { headers: { 'www-authenticate': challenge(code, description, scope) } });
}

/** Told to a client that sent no credentials, or sent the token where latch does not read it (as some client libraries do by default). */
export const TOKEN_REQUIRED = 'An access token is required in the Authorization header';
// error_description is printable ASCII without '"' or '\\' (RFC 6749 §5.2), hence "section".
export const TOKEN_IN_WRONG_PLACE =
  'Send the access token in the Authorization header (RFC 6750 section 2.1): Authorization: Bearer <token>; an access_token query or form parameter is not accepted';

/**
 * RFC 6750 §3: a token from the Authorization header, good for `scopes`, or the
 * OAuthError (with its WWW-Authenticate challenge) that the caller must get.
 * Opaque and JWT access tokens alike are found by their record (`verifier`
 * checks a JWT is latch's own first), so revocation ends both.
 * `tokenElsewhere`: the request carried an `access_token` parameter instead (§2.2/§2.3,
 * which latch does not accept), so the answer can say where the token belongs.
 */
export async function validateBearer(
  db: Kysely<Database>,
  clock: Clock,
  verifier: AccessTokenVerifier,
  authorization: string | undefined,
  scopes: readonly string[],
  tokenElsewhere = false,
): Promise<AccessTokenView> {
  const m = authorization ? /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization) : null;
  if (!authorization || !/^bearer\b/i.test(authorization)) {
    // No credentials at all: RFC 6750 §3.1 says no error code, in the challenge or the body.
    throw new OAuthError('unauthorized', tokenElsewhere ? TOKEN_IN_WRONG_PLACE : TOKEN_REQUIRED, {
      headers: { 'www-authenticate': challenge() },
    });
  }
  if (!m) {
    throw bearerError('invalid_request', 'The Authorization header is malformed');
  }
  const presented = m[1]!;
  const tokenDigest = presented.length > MAX_JWT_LENGTH ? null : await accessTokenDigest(verifier, presented);
  const token = tokenDigest === null ? undefined : await findAccessToken(db, tokenDigest);
  const problem = tokenProblem(token, clock.now());
  if (problem) {
    throw bearerError('invalid_token', problem);
  }
  const granted = parseScope(token!.scope);
  const missing = scopes.filter((s) => !granted.includes(s));
  if (missing.length > 0) {
    throw bearerError('insufficient_scope', 'The access token does not have the scope this resource needs', scopes.join(' '));
  }
  return token!;
}
