import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpMetrics } from '../metrics.js';
import { OAuthError } from '../oauth/errors.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * True when the request carries `Authorization: Bearer <token>`. Both sides are
 * hashed first so the comparison takes the same time whatever the length or content.
 */
function bearerMatches(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization ?? '';
  const presented = /^Bearer +(\S+) *$/i.exec(header)?.[1] ?? '';
  return timingSafeEqual(sha256(presented), sha256(token)) && presented.length > 0;
}

/**
 * Counts every answered request under its route pattern (unknown paths share
 * one label, so a scanner cannot grow the series), and serves `GET /metrics`,
 * behind `Authorization: Bearer <LATCH_METRICS_TOKEN>` when that is set.
 * Installed on the root instance, not as an encapsulated plugin, so the hook sees every route.
 */
export function installMetrics(app: FastifyInstance, m: HttpMetrics, token?: string): void {
  app.addHook('onResponse', (request, reply, done) => {
    m.observe(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', async (request, reply) => {
    if (token !== undefined && !bearerMatches(request, token)) {
      // RFC 6750 §3.1: an error code only when credentials were sent.
      const sent = request.headers.authorization !== undefined;
      throw new OAuthError(sent ? 'invalid_token' : 'unauthorized', 'The metrics need Authorization: Bearer with LATCH_METRICS_TOKEN', {
        headers: { 'www-authenticate': sent ? 'Bearer realm="latch-metrics", error="invalid_token"' : 'Bearer realm="latch-metrics"' },
      });
    }
    const body = await m.registry.metrics();
    return reply.type(m.registry.contentType).header('cache-control', 'no-store').send(body);
  });
}
