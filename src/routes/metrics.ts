import type { FastifyInstance } from 'fastify';
import type { HttpMetrics } from '../metrics.js';

/**
 * Counts every answered request under its route pattern (unknown paths share
 * one label, so a scanner cannot grow the series), and serves `GET /metrics`.
 * Installed on the root instance, not as an encapsulated plugin, so the hook sees every route.
 */
export function installMetrics(app: FastifyInstance, m: HttpMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    m.observe(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await m.registry.metrics();
    return reply.type(m.registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
