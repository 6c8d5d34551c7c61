import type { FastifyReply } from 'fastify';

/** Where a sign-in may send the browser back to when nothing safe was asked for. */
export const HOME = '/';
const MAX_RETURN_TO = 4096;
const BASE = 'http://latch.invalid';

/**
 * `value` when it is a path on this site, else HOME: never another origin, so
 * the login page cannot be used as an open redirector. "//evil" and "/\evil"
 * are protocol-relative to browsers and are refused with everything absolute.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO) return HOME;
  if (!value.startsWith('/') || value.startsWith('//') || /[\\\x00-\x1f\x7f]/.test(value)) return HOME;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return HOME;
  }
  if (url.origin !== BASE) return HOME;
  return url.pathname + url.search + url.hash;
}

/**
 * Renders a page that must never be stored by a browser or proxy: every page
 * here carries a CSRF token, a code or a token.
 */
export function renderPage(reply: FastifyReply, view: string, data: Record<string, unknown>, status = 200) {
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').view(view, data);
}
