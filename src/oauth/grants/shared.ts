import type { Client } from '../../db/schema.js';
import type { Config } from '../../config.js';
import { OAuthError } from '../errors.js';
import { formatScope, isSubset, parseScope, SCOPE_TOKEN } from '../scopes.js';

/** The client must have been registered for this grant type (RFC 6749 §5.2 unauthorized_client). */
export function assertGrantAllowed(client: Pick<Client, 'grant_types'>, grantType: string): void {
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError('unauthorized_client', `This client is not allowed to use the ${grantType} grant`);
  }
}

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
