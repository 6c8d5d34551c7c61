import { randomUUID } from 'node:crypto';
import type { Client } from '../db/schema.js';
import type { Config } from '../config.js';
import { addSeconds, epochSeconds } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import { issueAccessToken, openGrant, type PairToStore, type Written } from '../store/issuing.js';
import { signIdToken, wantsIdToken, type IdTokenSigner } from '../oidc/id-token.js';
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
  client: Pick<Client, 'id' | 'client_id' | 'id_token_alg' | 'access_token_ttl' | 'refresh_token_ttl'>;
  now: Date;
  withRefresh: boolean;
  /** Signs the ID token of an `openid` grant; without one (the implicit grant) there is none. */
  signer?: IdTokenSigner;
}

export type Issuance<S> = { issued: true; tokens: TokenResponse } | { issued: false; state: S };

/**
 * The one place tokens are issued: mints the secrets in memory, lets `write`
 * store their digests in the one statement whose step earns them, and shapes
 * the response when it did. When the step did not apply, returns the state the
 * statement found for the grant to judge. An `openid` grant with a user gets
 * its ID token here, signed once, from what the same statement read.
 */
export async function issuePair<S>(
  config: Config,
  request: PairRequest,
  write: (pair: PairToStore) => Promise<Written<S>>,
): Promise<Issuance<S>> {
  const { client, now } = request;
  const ttl = accessTokenTtl(config, client);
  const accessToken = newSecret(PREFIX.accessToken);
  const refreshToken = request.withRefresh ? newSecret(PREFIX.refreshToken) : undefined;
  const written = await write({
    access: { token_digest: digest(accessToken), expires_at: addSeconds(now, ttl) },
    refresh: refreshToken ? { token_digest: digest(refreshToken), expires_at: addSeconds(now, refreshTokenTtl(config, client)) } : null,
  });
  if (!written.issued) return written;
  const tokens: TokenResponse = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ttl,
    scope: written.scope,
    created_at: epochSeconds(now),
  };
  if (refreshToken) tokens.refresh_token = refreshToken;
  const scopes = parseScope(written.scope);
  if (request.signer && written.user && wantsIdToken(scopes)) {
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
  now: Date;
}

/** An access token alone, in no family (client credentials, implicit grant). */
export async function mintAccessToken(db: Executor, config: Config, input: MintInput): Promise<TokenResponse> {
  const { client, now } = input;
  return tokensOf(
    await issuePair(config, { client, now, withRefresh: false }, (pair) =>
      issueAccessToken(db, { now, clientUuid: client.id, userId: input.userId, scope: input.scope, pair }),
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
  input: MintInput & { withRefresh: boolean; signer?: IdTokenSigner; signIn?: { amr: string[] } },
): Promise<TokenResponse> {
  const { client, now, signIn } = input;
  return tokensOf(
    await issuePair(config, { client, now, withRefresh: input.withRefresh, signer: input.signer }, (pair) =>
      openGrant(db, { now, clientUuid: client.id, grantId: randomUUID(), userId: input.userId, scope: input.scope, pair, signIn }),
    ),
  );
}
