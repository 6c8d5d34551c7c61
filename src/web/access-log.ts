import type { FastifyInstance } from 'fastify';
import { maskUrl } from '../logger.js';

/**
 * One line per answered request, at debug level. Fastify's own request logging
 * (two lines per request at info) is off: at the token endpoint's rates it cost
 * a sixth of the CPU per request, and /metrics counts requests and latency anyway.
 */
export function installAccessLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    // Building the line (and masking the URL) costs even when debug is off.
    if (request.log.level !== 'debug' && request.log.level !== 'trace') return done();
    request.log.debug(
      { method: request.method, url: maskUrl(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request completed',
    );
    done();
  });
}
