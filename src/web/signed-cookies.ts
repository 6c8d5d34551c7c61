import type { FastifyRequest } from 'fastify';

/** Options for latch's cookies: signed, HTTP-only, SameSite=Lax, Secure when served over https. */
export function cookieOptions(request: FastifyRequest, maxAge: number) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: request.server.deps.config.issuer.startsWith('https:'),
    signed: true,
    maxAge,
  };
}

/**
 * The request's cookies, parsed on first read. @fastify/cookie is registered
 * without its per-request hook (src/app.ts), so the requests that never read
 * a cookie (the token endpoint's, introspection's, UserInfo's) do not pay for
 * parsing one.
 */
export function requestCookies(request: FastifyRequest): Record<string, string | undefined> {
  const header = request.headers.cookie;
  return (request.cookies ??= header ? request.server.parseCookie(header) : {});
}

/** A signed cookie's value, or null when it is absent or its signature does not hold. */
export function readSigned(request: FastifyRequest, name: string): string | null {
  const raw = requestCookies(request)[name];
  if (!raw) return null;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid ? unsigned.value : null;
}
