import type { Client } from '../../db/schema.js';
import { OAuthError } from '../errors.js';

/** The client must have been registered for this grant type (RFC 6749 §5.2 unauthorized_client). */
export function assertGrantAllowed(client: Pick<Client, 'grant_types'>, grantType: string): void {
  if (!client.grant_types.includes(grantType)) {
    throw new OAuthError('unauthorized_client', `This client is not allowed to use the ${grantType} grant`);
  }
}
