import type { FastifyPluginAsync } from 'fastify';

/**
 * RFC 7517 JWK Set. Short-lived in caches: a relying party re-reads it well
 * within the time a next key is published before it signs anything.
 */
export const jwksRoutes: FastifyPluginAsync = async (app) => {
  app.get('/oauth/jwks', async (_request, reply) =>
    reply
      .header('cache-control', 'public, max-age=60')
      .type('application/jwk-set+json')
      .send(await app.signingKeys.jwks()),
  );
};
