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

/** A signed cookie's value, or null when it is absent or its signature does not hold. */
export function readSigned(request: FastifyRequest, name: string): string | null {
  const raw = request.cookies[name];
  if (!raw) return null;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid ? unsigned.value : null;
}
