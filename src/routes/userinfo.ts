import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { bearerError } from '../oauth/bearer.js';
import { parseScope } from '../oauth/scopes.js';
import { scopeClaims } from '../oidc/claims.js';
import { requireBearer } from '../web/bearer.js';

const NOT_A_USER = 'This access token belongs to an application, not a user';

/**
 * The token's user: `sub`, `username` and `email` as always (also at GET /me, for
 * clients written for a bare "who am I" endpoint), plus the OpenID Connect claims
 * its scopes grant (OIDC Core §5.3). The token is read from the Authorization
 * header only, for GET and POST alike.
 */
export const userinfoRoutes: FastifyPluginAsync = async (app) => {
  const handler = async (request: FastifyRequest) => {
    const token = request.bearer!;
    if (!token.user_id) {
      throw bearerError('invalid_token', NOT_A_USER);
    }
    const user = { username: token.username!, email: token.email, email_verified: token.email_verified ?? false };
    return { sub: token.user_id, username: token.username, email: token.email, ...scopeClaims(parseScope(token.scope), user) };
  };
  for (const url of ['/oauth/userinfo', '/me']) {
    app.get(url, { preHandler: requireBearer() }, handler);
  }
  app.post('/oauth/userinfo', { preHandler: requireBearer() }, handler);
};
