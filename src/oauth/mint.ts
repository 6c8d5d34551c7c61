import { randomUUID } from 'node:crypto';
import type { Client } from '../db/schema.js';
import type { Config } from '../config.js';
import { addSeconds, epochSeconds } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import { insertAccessToken, insertGrant, insertRefreshToken, type PairToStore } from '../store/tokens.js';

/** RFC 6749 §5.1, with Mastodon's `created_at`. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
  created_at: number;
}

export function accessTokenTtl(config: Config, client: Pick<Client, 'access_token_ttl'>): number {
  return client.access_token_ttl ?? config.accessTokenTtl;
}

export function refreshTokenTtl(config: Config, client: Pick<Client, 'refresh_token_ttl'>): number {
  return client.refresh_token_ttl ?? config.refreshTokenTtl;
}

export interface MintInput {
  client: Pick<Client, 'id' | 'access_token_ttl' | 'refresh_token_ttl'>;
  userId: string | null;
  scope: string;
  now: Date;
  /** The family the pair joins; null for client_credentials tokens, which have none. */
  grantId: string | null;
  withRefresh: boolean;
}

/** Stores a new access token (and refresh token) in `db`; the caller owns the transaction. */
export async function mintTokens(db: Executor, config: Config, input: MintInput): Promise<TokenResponse> {
  const ttl = accessTokenTtl(config, input.client);
  const accessToken = newSecret(PREFIX.accessToken);
  const accessDigest = digest(accessToken);
  await insertAccessToken(db, {
    token_digest: accessDigest,
    grant_id: input.grantId,
    client_id: input.client.id,
    user_id: input.userId,
    scope: input.scope,
    kind: 'bearer',
    expires_at: addSeconds(input.now, ttl),
    created_at: input.now,
  });
  const response: TokenResponse = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ttl,
    scope: input.scope,
    created_at: epochSeconds(input.now),
  };
  if (input.withRefresh) {
    if (!input.grantId) throw new Error('a refresh token needs a grant family');
    const refreshToken = newSecret(PREFIX.refreshToken);
    await insertRefreshToken(db, {
      token_digest: digest(refreshToken),
      grant_id: input.grantId,
      client_id: input.client.id,
      user_id: input.userId,
      access_token_digest: accessDigest,
      scope: input.scope,
      expires_at: addSeconds(input.now, refreshTokenTtl(config, input.client)),
      created_at: input.now,
    });
    response.refresh_token = refreshToken;
  }
  return response;
}

/** Opens a new grant family and mints its first pair. */
export async function mintForNewGrant(
  db: Executor,
  config: Config,
  input: Omit<MintInput, 'grantId'> & { codeDigest: string | null },
): Promise<TokenResponse> {
  const grantId = randomUUID();
  await insertGrant(db, {
    id: grantId,
    client_id: input.client.id,
    user_id: input.userId,
    scope: input.scope,
    code_digest: input.codeDigest,
    created_at: input.now,
  });
  return mintTokens(db, config, { ...input, grantId });
}

/** A pair minted in memory, for stores that write it in one statement with the step that earns it. */
export interface PreparedPair {
  accessToken: string;
  refreshToken?: string;
  stored: PairToStore;
  ttl: number;
}

export function preparePair(
  config: Config,
  client: Pick<Client, 'access_token_ttl' | 'refresh_token_ttl'>,
  now: Date,
  withRefresh: boolean,
): PreparedPair {
  const ttl = accessTokenTtl(config, client);
  const accessToken = newSecret(PREFIX.accessToken);
  const stored: PairToStore = { accessDigest: digest(accessToken), accessExpiresAt: addSeconds(now, ttl) };
  if (!withRefresh) return { accessToken, stored, ttl };
  const refreshToken = newSecret(PREFIX.refreshToken);
  stored.refreshDigest = digest(refreshToken);
  stored.refreshExpiresAt = addSeconds(now, refreshTokenTtl(config, client));
  return { accessToken, refreshToken, stored, ttl };
}

/** The token response for a prepared pair, shaped exactly as mintTokens shapes it. */
export function preparedResponse(pair: PreparedPair, scope: string, now: Date): TokenResponse {
  const response: TokenResponse = {
    access_token: pair.accessToken,
    token_type: 'Bearer',
    expires_in: pair.ttl,
    scope,
    created_at: epochSeconds(now),
  };
  if (pair.refreshToken) response.refresh_token = pair.refreshToken;
  return response;
}
