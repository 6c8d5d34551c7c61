import type { ClientStatus } from '../db/schema.js';

/**
 * The state of an access or refresh token, one vocabulary for every place that
 * judges one (bearer checks, introspection, refresh). A token is live only while
 * its client is active: suspending or sending an app back to approval stops its
 * tokens at once, whether or not they were revoked.
 */
export type TokenState = 'live' | 'revoked' | 'rotated' | 'expired' | 'client_inactive';

export interface TokenTimes {
  revoked_at: Date | null;
  expires_at: Date | null;
  /** Refresh tokens only: set once the token was exchanged for its successor. */
  rotated_at?: Date | null;
}

export function isExpired(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && expiresAt.getTime() <= now.getTime();
}

export function tokenState(token: TokenTimes, clientStatus: ClientStatus, now: Date): TokenState {
  if (token.revoked_at) return 'revoked';
  if (token.rotated_at) return 'rotated';
  if (isExpired(token.expires_at, now)) return 'expired';
  if (clientStatus !== 'active') return 'client_inactive';
  return 'live';
}

export function isLive(token: TokenTimes, clientStatus: ClientStatus, now: Date): boolean {
  return tokenState(token, clientStatus, now) === 'live';
}
