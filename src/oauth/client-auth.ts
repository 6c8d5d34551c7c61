import type { Kysely } from 'kysely';
import type { Client, Database } from '../db/schema.js';
import { constantTimeEqual, digest } from '../crypto/secrets.js';
import { findClientForAuth } from '../store/clients.js';
import { clientStatusProblem } from './client-status.js';
import { OAuthError } from './errors.js';
import type { Params } from './params.js';

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface AuthenticatedClient {
  client: Client;
  method: AuthMethod;
}

const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="latch", charset="UTF-8"' };

function invalidClient(basicTried: boolean, description = 'Client authentication failed'): OAuthError {
  return new OAuthError('invalid_client', description, { headers: basicTried ? BASIC_CHALLENGE : {} });
}

/** RFC 6749 §2.3.1: each part is form-urlencoded before base64. */
function decodeFormPart(part: string): string {
  return decodeURIComponent(part.replace(/\+/g, ' '));
}

export function parseBasic(header: string): { id: string; secret: string } | null {
  const m = /^Basic[ ]+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    return { id: decodeFormPart(decoded.slice(0, colon)), secret: decodeFormPart(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

/**
 * Authenticates the client by exactly one method: HTTP Basic, body credentials,
 * or none (public clients). Then refuses clients that are not active.
 */
export async function authenticateClient(
  db: Kysely<Database>,
  authorization: string | undefined,
  params: Params,
): Promise<AuthenticatedClient> {
  const basicTried = authorization !== undefined && /^basic\b/i.test(authorization.trim());
  if (authorization !== undefined && !basicTried && params.client_secret !== undefined) {
    throw invalidClient(false, 'Use one client authentication method');
  }
  let id: string | undefined;
  let secret: string | undefined;
  let method: AuthMethod;
  if (basicTried) {
    const basic = parseBasic(authorization!.trim());
    if (!basic) throw invalidClient(true, 'The Basic credentials are malformed');
    if (params.client_secret !== undefined) throw invalidClient(true, 'Use one client authentication method, not Basic and client_secret together');
    if (params.client_id !== undefined && params.client_id !== basic.id) throw invalidClient(true, 'client_id does not match the Basic credentials');
    ({ id, secret } = basic);
    method = 'client_secret_basic';
  } else if (params.client_secret !== undefined) {
    id = params.client_id;
    secret = params.client_secret;
    method = 'client_secret_post';
  } else {
    id = params.client_id;
    method = 'none';
  }
  if (!id) throw invalidClient(basicTried, 'The client is not identified: send client_id, or HTTP Basic credentials');
  // Control characters (NUL above all) cannot name a client, and PostgreSQL refuses NUL in text.
  if (id.length > 200 || /[\x00-\x1f]/.test(id)) throw invalidClient(basicTried);

  const client = await findClientForAuth(db, id);
  if (!client) throw invalidClient(basicTried);
  if (client.is_confidential) {
    if (method === 'none') throw invalidClient(basicTried, 'This client must authenticate with its secret');
    if (!client.secret_digest || !constantTimeEqual(digest(secret!), client.secret_digest)) throw invalidClient(basicTried);
  } else if (method !== 'none') {
    // Public clients have no secret; a secret sent for one is a misconfigured client.
    throw invalidClient(basicTried, 'This is a public client: send client_id without a secret');
  }
  const inactive = clientStatusProblem(client);
  if (inactive) throw inactive;
  return { client, method };
}
