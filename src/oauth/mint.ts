import { randomUUID } from 'node:crypto';
import type { Client } from '../db/schema.js';
import type { Config } from '../config.js';
import { addSeconds, epochSeconds } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import { issueAccessToken, openGrant, type PairToStore, type Written } from '../store/issuing.js';
import { signIdToken, wantsIdToken, type IdTokenSigner } from '../oidc/id-token.js';
import { jtiDigest, newJti, signAccessToken } from './jwt-access-token.js';
import { parseScope } from './scopes.js';

/** RFC 6749 §5.1, with `created_at` (seconds since the epoch) for clients that expect it. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
  created_at: number;
  /** OpenID Connect: when the scope includes `openid` and a user signed in. */
  id_token?: string;
}

export function accessTokenTtl(config: Config, client: Pick<Client, 'access_token_ttl'>): number {
  return client.access_token_ttl ?? config.accessTokenTtl;
}

export function refreshTokenTtl(config: Config, client: Pick<Client, 'refresh_token_ttl'>): number {
  return client.refresh_token_ttl ?? config.refreshTokenTtl;
}

export interface PairRequest {
  client: Pick<Client, 'id' | 'client_id' | 'id_token_alg' | 'access_token_ttl' | 'refresh_token_ttl' | 'access_token_format'>;
  now: Date;
  withRefresh: boolean;
  /**
   * Signs JWT access tokens (clients with access_token_format jwt) and the ID
   * token of an `openid` grant; without one (the implicit grant) there is none.
   */
  signer?: IdTokenSigner;
  /** False: no ID token even for an `openid` grant (the device grant). */
  idToken?: boolean;
}

export type Issuance<S> = { issued: true; tokens: TokenResponse } | { issued: false; state: S };

/**
 * The one place tokens are issued: mints the secrets in memory, lets `write`
 * store their digests in the one statement whose step earns them, and shapes
 * the response when it did. When the step did not apply, returns the state the
 * statement found for the grant to judge. An `openid` grant with a user gets
 * its ID token here, signed once, from what the same statement read. A JWT
 * access token (RFC 9068) is recorded by the digest of its jti, chosen before
 * the statement, and signed from what the statement read.
 */
export async function issuePair<S>(
  config: Config,
  request: PairRequest,
  write: (pair: PairToStore) => Promise<Written<S>>,
): Promise<Issuance<S>> {
  const { client, now } = request;
  const ttl = accessTokenTtl(config, client);
  const jwt = client.access_token_format === 'jwt';
  if (jwt && !request.signer) throw new Error('a JWT access token needs a signer');
  const jti = jwt ? newJti() : undefined;
  const opaque = jwt ? undefined : newSecret(PREFIX.accessToken);
  const refreshToken = request.withRefresh ? newSecret(PREFIX.refreshToken) : undefined;
  const written = await write({
    access: { token_digest: jti ? jtiDigest(jti) : digest(opaque!), expires_at: addSeconds(now, ttl) },
    refresh: refreshToken ? { token_digest: digest(refreshToken), expires_at: addSeconds(now, refreshTokenTtl(config, client)) } : null,
  });
  if (!written.issued) return written;
  const accessToken =
    opaque ??
    (await signAccessToken(request.signer!, {
      issuer: config.issuer,
      clientId: client.client_id,
      now,
      ttl,
      jti: jti!,
      scope: written.scope,
      audience: written.audience,
      user: written.user,
    }));
  const tokens: TokenResponse = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ttl,
    scope: written.scope,
    created_at: epochSeconds(now),
  };
  if (refreshToken) tokens.refresh_token = refreshToken;
  const scopes = parseScope(written.scope);
  if (request.signer && request.idToken !== false && written.user && wantsIdToken(scopes)) {
    tokens.id_token = await signIdToken(request.signer, {
      issuer: config.issuer,
      clientId: client.client_id,
      alg: client.id_token_alg,
      ttl: config.idTokenTtl,
      now,
      scopes,
      accessToken,
      user: written.user,
    });
  }
  return { issued: true, tokens };
}

/** For steps that always apply: their tokens. */
function tokensOf(issuance: Issuance<unknown>): TokenResponse {
  if (!issuance.issued) throw new Error('an unconditional issuing statement wrote nothing');
  return issuance.tokens;
}

export interface MintInput {
  client: PairRequest['client'];
  userId: string | null;
  scope: string;
  /** RFC 8707: the resources the token is for, checked by the caller (none when omitted). */
  resources?: string[];
  now: Date;
  /** Signs a JWT access token, for clients that get one. */
  signer?: IdTokenSigner;
}

/** An access token alone, in no family (client credentials, implicit grant), never with an ID token. */
export async function mintAccessToken(db: Executor, config: Config, input: MintInput): Promise<TokenResponse> {
  const { client, now } = input;
  return tokensOf(
    await issuePair(config, { client, now, withRefresh: false, signer: input.signer, idToken: false }, (pair) =>
      issueAccessToken(db, { now, clientUuid: client.id, userId: input.userId, scope: input.scope, resources: input.resources ?? [], pair }),
    ),
  );
}

/**
 * Opens a new grant family and issues its first pair. `signIn`: the user
 * authenticated in this request, how (an ID token states it as auth_time and amr).
 */
export async function mintForNewGrant(
  db: Executor,
  config: Config,
  input: MintInput & { withRefresh: boolean; signIn?: { amr: string[] } },
): Promise<TokenResponse> {
  const { client, now, signIn } = input;
  return tokensOf(
    await issuePair(config, { client, now, withRefresh: input.withRefresh, signer: input.signer }, (pair) =>
      openGrant(db, { now, clientUuid: client.id, grantId: randomUUID(), userId: input.userId, scope: input.scope, resources: input.resources ?? [], pair, signIn }),
    ),
  );
}
