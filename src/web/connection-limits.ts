import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerOptions } from 'fastify';

/** Longer than the 60 s idle timeout of common load balancers, so they close first (Fastify's default). */
const KEEP_ALIVE_MS = 72_000;
/** Node's own bound for receiving a request's headers; never longer than the whole request may take. */
const HEADERS_TIMEOUT_MS = 60_000;

/**
 * Bounds on how long one request may hold a connection. Fastify and Node leave
 * the whole-request bound off (0): a client trickling its body would hold a
 * socket forever, and enough of them exhaust the server's descriptors.
 * - requestTimeout: headers and body must arrive within it (else 408 and close);
 * - headersTimeout: the headers alone, at most the request bound;
 * - connectionTimeout: a socket silent this long is closed, past the keep-alive
 *   idle time so that kept-alive connections end by the keep-alive rule;
 * - connectionsCheckingInterval: how often Node looks for overdue requests
 *   (its 30 s default would let a request live twice its bound).
 */
export function timeoutOptions(requestTimeoutSeconds: number): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout'> & {
  http: { headersTimeout: number; connectionsCheckingInterval: number };
} {
  const requestTimeout = requestTimeoutSeconds * 1000;
  return {
    requestTimeout,
    keepAliveTimeout: KEEP_ALIVE_MS,
    connectionTimeout: KEEP_ALIVE_MS + requestTimeout,
    http: {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
      connectionsCheckingInterval: Math.max(100, Math.min(1000, requestTimeout / 4)),
    },
  };
}

/**
 * Closes a new connection at once when its address already holds `limit` open
 * ones, so one address cannot take every descriptor even within the timeouts.
 * Behind a trusted reverse proxy every connection comes from the proxy, so no
 * cap applies there (the proxy must limit its clients).
 */
export function capConnectionsPerAddress(server: Server, limit: number): void {
  if (limit <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > limit) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
