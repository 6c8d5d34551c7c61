import type { FastifyPluginAsync } from 'fastify';
import { OAuthError } from '../oauth/errors.js';
import { requireBearer } from '../web/bearer.js';

/** The token's user (the Breakout seed's GET /me). */
export const userinfoRoutes: FastifyPluginAsync = async (app) => {
  const handler = async (request: import('fastify').FastifyRequest) => {
    const token = request.bearer!;
    if (!token.user_id) {
      throw new OAuthError('invalid_token', 'This access token belongs to an application, not a user', {
        headers: { 'www-authenticate': 'Bearer realm="latch", error="invalid_token", error_description="This access token belongs to an application, not a user"' },
      });
    }
    return { sub: token.user_id, username: token.username, email: token.email };
  };
  for (const url of ['/oauth/userinfo', '/me']) {
    app.get(url, { preHandler: requireBearer() }, handler);
  }
};
