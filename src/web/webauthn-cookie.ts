import type { FastifyReply, FastifyRequest } from 'fastify';
import { CHALLENGE_SECONDS } from '../accounts/passkeys.js';
import { cookieOptions, readSigned } from './signed-cookies.js';

/** The random id naming this browser's pending WebAuthn challenge (its digest keys the row): signed, HttpOnly, five minutes. */
export const WEBAUTHN_COOKIE = 'latch_webauthn';

export function setWebauthnChallenge(request: FastifyRequest, reply: FastifyReply, browserId: string): void {
  reply.setCookie(WEBAUTHN_COOKIE, browserId, cookieOptions(request, CHALLENGE_SECONDS));
}

export const readWebauthnChallenge = (request: FastifyRequest): string | null => readSigned(request, WEBAUTHN_COOKIE);

export function clearWebauthnChallenge(reply: FastifyReply): void {
  reply.clearCookie(WEBAUTHN_COOKIE, { path: '/' });
}
