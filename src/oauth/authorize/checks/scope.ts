import { parseScope, resolveScope } from '../../scopes.js';
import type { CheckInput } from '../types.js';

/** scope (RFC 6749 §3.3): known to the server and allowed for the client, or the default scope. */
export function checkScope({ config, client, params }: CheckInput): string[] {
  return parseScope(resolveScope(config, client, params.scope));
}
