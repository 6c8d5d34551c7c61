import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { authenticateClient } from '../oauth/client-auth.js';
import { exchange } from '../oauth/grants/index.js';
import type { GrantContext } from '../oauth/grants/types.js';
import { introspect } from '../oauth/introspection.js';
import { readParams, readResources } from '../oauth/params.js';
import { revokeToken } from '../oauth/revocation.js';
import { auditContext } from '../web/audit-context.js';
import { metrics } from '../metrics.js';
import { acceptMultipartForms } from '../web/multipart-form.js';

const events = { refreshReuse: () => metrics.refreshReuse.inc() };

/** Responses carrying tokens must never be cached (RFC 6749 §5.1). */
function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export const tokenRoutes: FastifyPluginAsync = async (app) => {
  const { db, clock, config } = app.deps;
  const verifier = { keys: app.signingKeys, issuer: config.issuer };
  acceptMultipartForms(app);

  app.post('/oauth/token', async (request, reply) => {
    const params = readParams(request.body);
    const ctx: GrantContext = { db, clock, config, ip: request.ip, events, signer: app.signingKeys };
    const { grantType, tokens } = await exchange(ctx, params, request.headers.authorization, readResources(request.body));
    metrics.tokensIssued.inc({ grant: grantType });
    return noStore(reply).send(tokens);
  });

  app.post('/oauth/revoke', async (request, reply) => {
    const params = readParams(request.body);
    const auth = await authenticateClient(db, request.headers.authorization, params);
    await revokeToken(db, clock, verifier, params, auth, auditContext(request));
    return noStore(reply).send({});
  });

  app.post('/oauth/introspect', async (request, reply) => {
    const params = readParams(request.body);
    const auth = await authenticateClient(db, request.headers.authorization, params);
    return noStore(reply).send(await introspect(db, clock, verifier, params, auth));
  });
};
