import type { FastifyPluginAsync } from 'fastify';
import { bearerError } from '../oauth/bearer.js';
import { requireBearer } from '../web/bearer.js';

/** The token's user, at the standard path and at GET /me, which clients written for a bare "who am I" endpoint call. */
export const userinfoRoutes: FastifyPluginAsync = async (app) => {
  const handler = async (request: import('fastify').FastifyRequest) => {
    const token = request.bearer!;
    if (!token.user_id) {
      throw bearerError('invalid_token', 'This access token belongs to an application, not a user');
    }
    return { sub: token.user_id, username: token.username, email: token.email };
  };
  for (const url of ['/oauth/userinfo', '/me']) {
    app.get(url, { preHandler: requireBearer() }, handler);
  }
};
