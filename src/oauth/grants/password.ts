import { verifyPassword } from '../../crypto/passwords.js';
import { findUserByUsername } from '../../store/users.js';
import { OAuthError } from '../errors.js';
import { mintForNewGrant } from '../mint.js';
import { required } from '../params.js';
import { assertGrantAllowed, resolveScope } from './shared.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 §4.3, for first-party clients registered for it. An unknown user and a
 * wrong password answer alike and cost alike (a dummy hash is verified).
 */
export const passwordGrant: GrantHandler = async (ctx, params, { client }) => {
  assertGrantAllowed(client, 'password');
  const username = required(params, 'username');
  const password = required(params, 'password');
  if (username.length > 200 || password.length > 1024) throw new OAuthError('invalid_request', 'The username or password is too long');
  const scope = resolveScope(ctx.config, client, params.scope);
  await ctx.throttle?.check(username, ctx.ip);
  const user = await findUserByUsername(ctx.db, username);
  const ok = await verifyPassword(user?.password_hash, password);
  if (!ok || !user) {
    await ctx.throttle?.failure(username, ctx.ip);
    throw new OAuthError('invalid_grant', 'The username or password is incorrect');
  }
  await ctx.throttle?.success(username, ctx.ip);
  return mintForNewGrant(ctx.db, ctx.config, {
    client,
    userId: user.id,
    scope,
    now: ctx.clock.now(),
    withRefresh: client.grant_types.includes('refresh_token'),
  });
};
