import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../oauth/errors.js';

/**
 * While the server stops, requests still arriving on open keep-alive connections
 * get an RFC-shaped 503 `temporarily_unavailable` (Fastify's own 503 body is not),
 * with `Connection: close` so the client's next attempt goes to another instance.
 * Requests already running finish normally.
 */
export function installDraining(app: FastifyInstance): void {
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!draining) return done();
    reply.header('connection', 'close');
    done(new OAuthError('temporarily_unavailable', 'The server is restarting; try again', { headers: { 'retry-after': '1' } }));
  });
}
