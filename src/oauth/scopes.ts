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
 * The scope to grant: the requested one when every part is known to the server and
 * allowed for the client (and within `bound` when narrowing), else the default
 * scope limited to what the client may have.
 */
export function resolveScope(
  config: Config,
  client: Pick<Client, 'scopes'>,
  requested: string | undefined,
  bound?: readonly string[],
): string {
  const asked = parseScope(requested);
  if (asked.length === 0) {
    const fallback = bound ? [...bound] : config.defaultScope.filter((s) => client.scopes.includes(s));
    if (fallback.length === 0) throw new OAuthError('invalid_scope', 'No scope was requested and this client has no default scope');
    return formatScope(fallback);
  }
  if (!asked.every((s) => SCOPE_TOKEN.test(s))) throw new OAuthError('invalid_scope', 'The scope is malformed');
  const unknown = asked.filter((s) => !config.scopes.includes(s) || !client.scopes.includes(s));
  if (unknown.length > 0) {
    throw new OAuthError('invalid_scope', 'The requested scope is invalid, unknown, or not allowed for this client');
  }
  if (bound && !isSubset(asked, bound)) {
    throw new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted');
  }
  return formatScope(asked);
}
