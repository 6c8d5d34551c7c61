import { OAuthError } from '../errors.js';
import { mintAccessToken } from '../mint.js';
import { assertGrantAllowed } from './shared.js';
import { resolveScope } from '../scopes.js';
import { checkResources } from '../resources.js';
import type { GrantHandler } from './types.js';

/** RFC 6749 §4.4: an app-level token for a confidential client; no user, no refresh token. */
export const clientCredentialsGrant: GrantHandler = async (ctx, params, { client, method }, requested) => {
  if (method === 'none') throw new OAuthError('unauthorized_client', 'Only confidential clients may use client_credentials');
  assertGrantAllowed(client, 'client_credentials');
  const scope = resolveScope(ctx.config, client, params.scope, undefined, 'app');
  const resources = checkResources(client, requested);
  return mintAccessToken(ctx.db, ctx.config, { client, userId: null, scope, resources, now: ctx.clock.now(), signer: ctx.signer });
};
