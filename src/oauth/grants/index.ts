import { OAuthError } from '../errors.js';
import { authenticateClient } from '../client-auth.js';
import type { TokenResponse } from '../mint.js';
import type { Params } from '../params.js';
import { authorizationCodeGrant } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import { deviceCodeGrant } from './device-code.js';
import { DEVICE_CODE_GRANT_TYPE } from '../device.js';
import { passwordGrant } from './password.js';
import { refreshTokenGrant } from './refresh-token.js';
import type { GrantContext, GrantHandler } from './types.js';

/** Every grant the token endpoint knows, by grant_type. */
export const GRANTS: Record<string, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  password: passwordGrant,
  client_credentials: clientCredentialsGrant,
  [DEVICE_CODE_GRANT_TYPE]: deviceCodeGrant,
};

export const SUPPORTED_GRANT_TYPES = Object.keys(GRANTS);

/** The token endpoint's logic: authenticate the client, dispatch by grant_type. */
export async function exchange(
  ctx: GrantContext,
  params: Params,
  authorization: string | undefined,
  resources: readonly string[] = [],
): Promise<{ grantType: string; tokens: TokenResponse }> {
  const grantType = params.grant_type;
  if (grantType === undefined) throw new OAuthError('invalid_request', 'The grant_type parameter is missing');
  const handler = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
  // Authenticate first, so an unauthenticated caller learns nothing about grants.
  const auth = await authenticateClient(ctx.db, authorization, params);
  if (!handler) throw new OAuthError('unsupported_grant_type', 'The grant type is not supported by this server');
  return { grantType, tokens: await handler(ctx, params, auth, resources) };
}
