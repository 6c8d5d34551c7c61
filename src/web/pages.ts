import type { FastifyReply } from 'fastify';

/** Where a sign-in may send the browser back to when nothing safe was asked for. */
export const HOME = '/';
const MAX_RETURN_TO = 4096;
const BASE = 'http://latch.invalid';

/** A path browsers read as this site's: not protocol-relative ("//host", "/\\host"), no controls a browser strips. */
function isLocalPath(path: string): boolean {
  return path.startsWith('/') && !path.startsWith('//') && !/[\\\x00-\x1f\x7f]|%5c/i.test(path);
}

/**
 * `value` when it is a path on this site, else HOME: never another origin, so
 * the login and sign-up pages cannot be used as open redirectors. The check is
 * made on the normalised value that is actually sent in Location as well as on
 * the input: "/.//evil" and "/%2e//evil" normalise to the protocol-relative "//evil".
 * Every redirect to a user-supplied return path goes through here.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO || !isLocalPath(value)) return HOME;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return HOME;
  }
  const target = url.pathname + url.search + url.hash;
  if (url.origin !== BASE || !isLocalPath(target)) return HOME;
  return target;
}

/**
 * Renders a page that must never be stored by a browser or proxy: every page
 * here carries a CSRF token, a code or a token.
 */
export function renderPage(reply: FastifyReply, view: string, data: Record<string, unknown>, status = 200) {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').view(view, data);
}
