import type { User } from '../db/schema.js';

/** What the profile and email claims are made of. */
export type ClaimSource = Pick<User, 'username' | 'email' | 'email_verified'>;

/**
 * The claims a set of scopes grants about a user (OIDC Core §5.4), for ID tokens
 * and UserInfo alike. latch has no display name, so `name` is the username.
 * Claims without a value are left out (§5.3.2).
 */
export function scopeClaims(scopes: readonly string[], user: ClaimSource): Record<string, string | boolean> {
  const claims: Record<string, string | boolean> = {};
  if (scopes.includes('profile')) {
    claims.preferred_username = user.username;
    claims.name = user.username;
  }
  if (scopes.includes('email') && user.email !== null) {
    claims.email = user.email;
    claims.email_verified = user.email_verified;
  }
  return claims;
}
