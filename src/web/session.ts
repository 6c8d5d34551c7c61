import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { addSeconds } from '../clock.js';
import { constantTimeEqual, digest, newSecret, PREFIX } from '../crypto/secrets.js';
import { OAuthError } from '../oauth/errors.js';
import { deleteSession, findLiveSession, insertSession } from '../store/sessions.js';

export const SESSION_COOKIE = 'latch_session';
/** A browser's pre-sign-in CSRF secret, so forms shown before a session exists are protected too. */
export const CSRF_COOKIE = 'latch_csrf';
export const SESSION_TTL_SECONDS = 12 * 3600;

export interface Session {
  idDigest: string;
  userId: string;
  username: string;
  email: string | null;
  isAdmin: boolean;
  csrfSecret: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    latchSession?: Session | null;
    latchCsrfSecret?: string;
  }
}

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

function readSigned(request: FastifyRequest, name: string): string | null {
  const raw = request.cookies[name];
  if (!raw) return null;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid ? unsigned.value : null;
}

/** The signed-in user's session, looked up once per request; null when signed out. */
export async function loadSession(request: FastifyRequest): Promise<Session | null> {
  if (request.latchSession !== undefined) return request.latchSession;
  const id = readSigned(request, SESSION_COOKIE);
  let session: Session | null = null;
  if (id) {
    const row = await findLiveSession(request.server.deps.db, digest(id), request.server.deps.clock.now());
    if (row) {
      session = {
        idDigest: row.id_digest,
        userId: row.user_id,
        username: row.username,
        email: row.email,
        isAdmin: row.is_admin,
        csrfSecret: row.csrf_secret,
      };
    }
  }
  request.latchSession = session;
  return session;
}

/**
 * Starts a new session for `userId`, ending the one the browser had: a fresh id
 * at sign-in defeats session fixation.
 */
export async function signIn(request: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> {
  const { db, clock } = request.server.deps;
  const old = readSigned(request, SESSION_COOKIE);
  if (old) await deleteSession(db, digest(old));
  const id = newSecret(PREFIX.session);
  const now = clock.now();
  const csrfSecret = randomBytes(32).toString('base64url');
  await insertSession(db, {
    id_digest: digest(id),
    user_id: userId,
    csrf_secret: csrfSecret,
    created_at: now,
    expires_at: addSeconds(now, SESSION_TTL_SECONDS),
  });
  reply.setCookie(SESSION_COOKIE, id, cookieOptions(request, SESSION_TTL_SECONDS));
  request.latchSession = undefined;
  request.latchCsrfSecret = csrfSecret;
}

export async function signOut(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const id = readSigned(request, SESSION_COOKIE);
  if (id) await deleteSession(request.server.deps.db, digest(id));
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  request.latchSession = null;
}

async function csrfSecret(request: FastifyRequest, reply: FastifyReply | null): Promise<string | null> {
  if (request.latchCsrfSecret) return request.latchCsrfSecret;
  const session = await loadSession(request);
  if (session) return session.csrfSecret;
  const existing = readSigned(request, CSRF_COOKIE);
  if (existing) return existing;
  if (!reply) return null;
  const fresh = randomBytes(32).toString('base64url');
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

/** preHandler for pages that need a signed-in user: others go to the login page and come back. */
export async function requireUser(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const session = await loadSession(request);
  if (!session) {
    const returnTo = request.method === 'GET' ? request.url : '/';
    return reply.redirect(`/login?return_to=${encodeURIComponent(returnTo)}`, 303);
  }
}

export async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await requireUser(request, reply);
  if (reply.sent) return;
  if (!request.latchSession?.isAdmin) throw new OAuthError('not_found', 'No such page', { status: 404 });
}
