import type { FastifyPluginAsync } from 'fastify';
import { serverMetadata } from '../oauth/metadata.js';
import { OIDC_DISCOVERY_ENABLED, openidConfiguration } from '../oidc/discovery.js';

/** RFC 8414 authorization server metadata and OpenID Connect Discovery, computed once. */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  const { config } = app.deps;
  const oauth = serverMetadata(config);
  app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(oauth),
  );
  if (OIDC_DISCOVERY_ENABLED) {
    const oidc = openidConfiguration(config);
    app.get('/.well-known/openid-configuration', async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(oidc),
    );
  }
};
