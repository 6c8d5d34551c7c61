import type { Client } from '../db/schema.js';
import type { Config } from '../config.js';
import { OAuthError } from './errors.js';

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

/** Whose token the scope is for: a signed-in user's, or an application's own (client_credentials). */
export type ScopeHolder = 'user' | 'app';

/**
 * Whether the client may be granted `scope`. The OpenID Connect scopes follow
 * their own rule, whatever LATCH_SCOPES and the client's list say: any client of
 * the code flow may ask for them for a user (offline_access only if it may
 * refresh; latch issues refresh tokens by the client's grant types, with or
 * without it), and an app's own token never gets them: there is no one to
 * identify. Any other scope must be known to the server and registered for the client.
 */
export function mayGrant(config: Config, client: Pick<Client, 'scopes' | 'grant_types'>, scope: string, holder: ScopeHolder): boolean {
  if (OIDC_SCOPES.includes(scope)) {
    if (holder !== 'user' || !client.grant_types.includes('authorization_code')) return false;
    return scope !== 'offline_access' || client.grant_types.includes('refresh_token');
  }
  return config.scopes.includes(scope) && client.scopes.includes(scope);
}

/**
 * The scope to grant: the requested one when every part may be granted to this
 * client for `holder` (and is within `bound` when narrowing), else the default
 * scope limited to what the client may have.
 */
export function resolveScope(
  config: Config,
  client: Pick<Client, 'scopes' | 'grant_types'>,
  requested: string | undefined,
  bound?: readonly string[],
  holder: ScopeHolder = 'user',
): string {
  const asked = parseScope(requested);
  if (asked.length === 0) {
    const fallback = bound ? [...bound] : config.defaultScope.filter((s) => mayGrant(config, client, s, holder));
    if (fallback.length === 0) throw new OAuthError('invalid_scope', 'No scope was requested and this client has no default scope');
    return formatScope(fallback);
  }
  if (!asked.every((s) => SCOPE_TOKEN.test(s))) throw new OAuthError('invalid_scope', 'The scope is malformed');
  const unknown = asked.filter((s) => !mayGrant(config, client, s, holder));
  if (unknown.length > 0) {
    throw new OAuthError('invalid_scope', 'The requested scope is invalid, unknown, or not allowed for this client');
  }
  if (bound && !isSubset(asked, bound)) {
    throw new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted');
  }
  return formatScope(asked);
}
