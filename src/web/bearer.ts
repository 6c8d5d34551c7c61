import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { validateBearer } from '../oauth/bearer.js';
import type { AccessTokenView } from '../store/access-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The validated access token, set by requireBearer. */
    bearer?: AccessTokenView;
  }
}

/** An `access_token` in the query or a form body (RFC 6750 §2.2/§2.3): latch reads only the header. */
function carriesTokenParameter(request: FastifyRequest): boolean {
  const has = (o: unknown) => typeof o === 'object' && o !== null && Object.hasOwn(o, 'access_token');
  return has(request.query) || has(request.body);
}

/** The hook a resource route declares with the scopes it needs (RFC 6750). */
export function requireBearer(...scopes: string[]): preHandlerAsyncHookHandler {
  return async function bearerCheck(this: unknown, request: FastifyRequest, _reply: FastifyReply) {
    const { db, clock, config } = request.server.deps;
    const verifier = { keys: request.server.signingKeys, issuer: config.issuer };
    request.bearer = await validateBearer(db, clock, verifier, request.headers.authorization, scopes, carriesTokenParameter(request));
  };
}
