import { createHmac } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { newCsrfSecret, SESSION_TTL_SECONDS } from '../accounts/sessions.js';
import { constantTimeEqual } from '../crypto/secrets.js';
import { OAuthError } from '../oauth/errors.js';
import { loadSession } from './session.js';
import { cookieOptions, readSigned } from './signed-cookies.js';

/** A browser's pre-sign-in CSRF secret, so forms shown before a session exists are protected too. */
export const CSRF_COOKIE = 'latch_csrf';

async function csrfSecret(request: FastifyRequest, reply: FastifyReply | null): Promise<string | null> {
  if (request.latchCsrfSecret) return request.latchCsrfSecret;
  const session = await loadSession(request);
  if (session) return session.csrfSecret;
  const existing = readSigned(request, CSRF_COOKIE);
  if (existing) return existing;
  if (!reply) return null;
  const fresh = newCsrfSecret();
  reply.setCookie(CSRF_COOKIE, fresh, cookieOptions(request, SESSION_TTL_SECONDS));
  request.latchCsrfSecret = fresh;
  return fresh;
}

export const csrfTokenFor = (secret: string, formAction: string) => createHmac('sha256', secret).update(`csrf:${formAction}`).digest('base64url');

/** The hidden-field value for a form posting to `formAction` (a path); sets the pre-session cookie when needed. */
export async function csrfToken(request: FastifyRequest, reply: FastifyReply, formAction: string): Promise<string> {
  const secret = await csrfSecret(request, reply);
  return csrfTokenFor(secret!, formAction);
}

/**
 * Refuses a form POST whose `_csrf` field does not match this browser's secret
 * for this path: 403, before anything changes.
 */
export async function checkCsrf(request: FastifyRequest, formAction = request.url.split('?')[0]!): Promise<void> {
  const body = request.body as Record<string, unknown> | undefined;
  const sent = typeof body?._csrf === 'string' ? body._csrf : '';
  const secret = await csrfSecret(request, null);
  if (!secret || !sent || !constantTimeEqual(sent, csrfTokenFor(secret, formAction))) {
    throw new OAuthError('access_denied', 'The form expired or did not come from this site; reload the page and try again', { status: 403 });
  }
}
