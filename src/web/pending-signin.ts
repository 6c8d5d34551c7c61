import type { FastifyReply, FastifyRequest } from 'fastify';
import { PENDING_SIGNIN_SECONDS } from '../accounts/second-step.js';
import { cookieOptions } from './signed-cookies.js';

/** The half-done sign-in's random id (its digest is the row's key): signed, HttpOnly, gone in five minutes. */
export const PENDING_COOKIE = 'latch_2fa';

export function setPendingSignin(request: FastifyRequest, reply: FastifyReply, id: string): void {
  reply.setCookie(PENDING_COOKIE, id, cookieOptions(request, PENDING_SIGNIN_SECONDS));
}

export function readPendingSignin(request: FastifyRequest): string | null {
  const raw = request.cookies[PENDING_COOKIE];
  if (!raw) return null;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid ? unsigned.value : null;
}

export function clearPendingSignin(reply: FastifyReply): void {
  reply.clearCookie(PENDING_COOKIE, { path: '/' });
}
