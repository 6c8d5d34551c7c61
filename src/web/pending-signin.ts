import type { FastifyReply, FastifyRequest } from 'fastify';
import { PENDING_SIGNIN_SECONDS } from '../accounts/second-step.js';
import { cookieOptions, readSigned } from './signed-cookies.js';

/** The half-done sign-in's random id (its digest is the row's key): signed, HttpOnly, gone in five minutes. */
export const PENDING_COOKIE = 'latch_2fa';

export function setPendingSignin(request: FastifyRequest, reply: FastifyReply, id: string): void {
  reply.setCookie(PENDING_COOKIE, id, cookieOptions(request, PENDING_SIGNIN_SECONDS));
}

export function readPendingSignin(request: FastifyRequest): string | null {
  return readSigned(request, PENDING_COOKIE);
}

export function clearPendingSignin(reply: FastifyReply): void {
  reply.clearCookie(PENDING_COOKIE, { path: '/' });
}
