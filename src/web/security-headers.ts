import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { Config } from '../config.js';

/**
 * What helmet would set: strict CSP, no framing, no referrer; HSTS only over
 * https. latch's own script (passkeys) is the one relaxation: scripts from
 * this origin only, and its fetches to this origin's passkey endpoints.
 */
export function securityHeaderOptions(config: Config): HelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'none'"],
        'script-src': ["'self'"],
        'connect-src': ["'self'"],
        'style-src': ["'self'"],
        // LATCH_LOGO_URL may live on another host: that origin alone, for images alone.
        'img-src': ["'self'", 'data:', ...(config.logoUrl ? [new URL(config.logoUrl).origin] : [])],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    // Only meaningful (and only sent) when served over https.
    strictTransportSecurity: config.issuer.startsWith('https:') ? undefined : false,
  };
}

/**
 * The headers helmet sets for `options`, computed once. @fastify/helmet builds
 * helmet's middleware (and parses the CSP) again on every request; with static
 * options the result never changes, so latch sets the precomputed list instead.
 */
export function securityHeaders(options: HelmetOptions): Array<[string, string]> {
  const headers = new Map<string, string>();
  const res = {
    setHeader: (name: string, value: string | number) => void headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => void headers.delete(name.toLowerCase()),
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => {});
  return [...headers];
}

/**
 * Sets the security headers on every response, at onRequest, among the reply's
 * own headers. Set on the raw response instead (as @fastify/helmet does), they
 * would make Node take its slow path for the whole header block: every header
 * of every reply validated twice.
 */
export function installSecurityHeaders(app: FastifyInstance, options: HelmetOptions): void {
  const headers = Object.fromEntries(securityHeaders(options));
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
