import { verifySignIn } from '../../accounts/sign-in.js';
import { OAuthError } from '../errors.js';
import { mintForNewGrant } from '../mint.js';
import { required } from '../params.js';
import { assertGrantAllowed } from './shared.js';
import { resolveScope } from '../scopes.js';
import { checkResources } from '../resources.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 §4.3, for first-party clients registered for it. The password is
 * checked by the login page's own sign-in, throttle and all.
 */
export const passwordGrant: GrantHandler = async (ctx, params, { client }, requested) => {
  assertGrantAllowed(client, 'password');
  const username = required(params, 'username');
  const password = required(params, 'password');
  if (username.length > 200 || password.length > 1024) throw new OAuthError('invalid_request', 'The username or password is too long');
  const scope = resolveScope(ctx.config, client, params.scope);
  const resources = checkResources(client, requested);
  // No second step here: an account with a second factor is refused by verifySignIn itself.
  const user = (await verifySignIn(ctx.db, ctx.clock, { username, password, ip: ctx.ip, via: client.client_id }))?.user;
  if (!user) throw new OAuthError('invalid_grant', 'The username or password is incorrect');
  return mintForNewGrant(ctx.db, ctx.config, {
    client,
    userId: user.id,
    scope,
    resources,
    now: ctx.clock.now(),
    withRefresh: client.grant_types.includes('refresh_token'),
    signer: ctx.signer,
    signIn: { amr: ['pwd'] },
  });
};
