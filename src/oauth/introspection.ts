import type { Kysely } from 'kysely';
import type { Client, Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { epochSeconds } from '../clock.js';
import { digest } from '../crypto/secrets.js';
import { findAccessToken } from '../store/access-tokens.js';
import { findRefreshToken } from '../store/refresh-tokens.js';
import { findUserById } from '../store/users.js';
import type { AuthenticatedClient } from './client-auth.js';
import { OAuthError } from './errors.js';
import { required, type Params } from './params.js';
import { isLive } from './token-state.js';
import { accessTokenDigest, type AccessTokenVerifier } from './jwt-access-token.js';
import { audienceOf } from './resources.js';

export type Introspection =
  | { active: false }
  | {
      active: true;
      scope: string;
      client_id: string;
      username?: string;
      sub?: string;
      token_type: 'Bearer' | 'refresh_token';
      exp?: number;
      iat: number;
      /** An access token's audience (RFC 8707 resources; without any, the issuer). */
      aud?: string | string[];
    };

/**
 * RFC 7662 §4: any authenticated client may introspect its own tokens; only one
 * given the permission (a resource server) may introspect other clients' tokens.
 * Otherwise anyone who registers an app could test tokens they found.
 */
export const mayIntrospect = (caller: Pick<Client, 'client_id' | 'may_introspect'>, tokenClientId: string): boolean =>
  caller.may_introspect || caller.client_id === tokenClientId;

/**
 * RFC 7662 for confidential clients. Anything not usable right now, or not the
 * caller's to see, is just {"active": false}, saying nothing about why.
 */
export async function introspect(
  db: Kysely<Database>,
  clock: Clock,
  verifier: AccessTokenVerifier,
  params: Params,
  auth: AuthenticatedClient,
): Promise<Introspection> {
  if (auth.method === 'none') throw new OAuthError('invalid_client', 'Introspection needs client authentication');
  const token = required(params, 'token');
  // The refresh digest only when the refresh table is looked at (most introspections are of access tokens).
  const digests = { access: await accessTokenDigest(verifier, token), refresh: () => digest(token) };
  const now = clock.now();
  const tryRefreshFirst = params.token_type_hint === 'refresh_token';
  const order = tryRefreshFirst ? [asRefresh, asAccess] : [asAccess, asRefresh];
  for (const lookup of order) {
    const result = await lookup(db, digests, now, verifier.issuer);
    if (result) return result.active && !mayIntrospect(auth.client, result.client_id) ? { active: false } : result;
  }
  return { active: false };
}

type Digests = { access: string | null; refresh: () => string };

async function asAccess(db: Kysely<Database>, digests: Digests, now: Date, issuer: string): Promise<Introspection | null> {
  if (digests.access === null) return null;
  const token = await findAccessToken(db, digests.access);
  if (!token) return null;
  if (!isLive(token, token.client_status, now)) return { active: false };
  return {
    active: true,
    scope: token.scope,
    client_id: token.client_id,
    ...(token.user_id ? { username: token.username!, sub: token.user_id } : {}),
    token_type: 'Bearer',
    ...(token.expires_at ? { exp: epochSeconds(token.expires_at) } : {}),
    iat: epochSeconds(token.created_at),
    aud: audienceOf(token.audience, issuer),
  };
}

async function asRefresh(db: Kysely<Database>, digests: Digests, now: Date): Promise<Introspection | null> {
  const token = await findRefreshToken(db, digests.refresh());
  if (!token) return null;
  if (!isLive(token, token.client_status, now)) return { active: false };
  const user = token.user_id ? await findUserById(db, token.user_id) : undefined;
  return {
    active: true,
    scope: token.scope,
    client_id: token.public_client_id,
    ...(user ? { username: user.username, sub: user.id } : {}),
    token_type: 'refresh_token',
    ...(token.expires_at ? { exp: epochSeconds(token.expires_at) } : {}),
    iat: epochSeconds(token.created_at),
  };
}
