import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { validateBearer } from '../oauth/bearer.js';
import type { AccessTokenView } from '../store/access-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The validated access token, set by requireBearer. */
    bearer?: AccessTokenView;
  }
}

/** The hook a resource route declares with the scopes it needs (RFC 6750). */
export function requireBearer(...scopes: string[]): preHandlerAsyncHookHandler {
  return async function bearerCheck(this: unknown, request: FastifyRequest, _reply: FastifyReply) {
    const { db, clock } = request.server.deps;
    request.bearer = await validateBearer(db, clock, request.headers.authorization, scopes);
  };
}
