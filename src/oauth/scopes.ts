/** Scopes travel as space-separated strings (RFC 6749 §3.3); these keep them as ordered sets. */
export function parseScope(scope: string | undefined | null): string[] {
  if (!scope) return [];
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

export function formatScope(scopes: readonly string[]): string {
  return [...new Set(scopes)].join(' ');
}

export function isSubset(requested: readonly string[], allowed: readonly string[]): boolean {
  return requested.every((s) => allowed.includes(s));
}

/** RFC 6749 §3.3 scope-token characters. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Scopes OpenID Connect defines, offered beside LATCH_SCOPES. They are not in a
 * client's registered list: they reveal the signed-in user, so every client that
 * may sign a user in (the code flow) may ask for them, and a token with no user
 * never carries them.
 */
export const OIDC_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'offline_access'];
