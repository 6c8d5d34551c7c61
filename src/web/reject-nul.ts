import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../oauth/errors.js';

/** True when any string in `value` (nested objects and arrays included) holds U+0000. */
function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 8 || value === null || typeof value !== 'object') return false;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (containsNul(v, depth + 1)) return true;
  }
  return false;
}

/**
 * PostgreSQL text cannot hold NUL, so a NUL in any parameter would fail deep in
 * a query as a 500. Refused up front, for every route, as the client's mistake.
 */
export function rejectNul(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  if (containsNul(request.query) || containsNul(request.body)) {
    return done(new OAuthError('invalid_request', 'Parameters must not contain NUL characters'));
  }
  done();
}
