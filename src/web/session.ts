import type { FastifyReply, FastifyRequest } from 'fastify';
import { endSession, findSession, SESSION_TTL_SECONDS, startSession, type EndedSession, type Session, type SessionEndDeps } from '../accounts/sessions.js';
import { cookieOptions, readSigned } from './signed-cookies.js';

export const SESSION_COOKIE = 'latch_session';

declare module 'fastify' {
  interface FastifyRequest {
    latchSession?: Session | null;
    /** The CSRF secret set during this request (a new session's, or a fresh pre-sign-in one), ahead of its cookie. */
    latchCsrfSecret?: string;
  }
}

/** The signed-in user's session, looked up once per request; null when signed out. */
export async function loadSession(request: FastifyRequest): Promise<Session | null> {
  if (request.latchSession !== undefined) return request.latchSession;
  const id = readSigned(request, SESSION_COOKIE);
  const { db, clock } = request.server.deps;
  const session = id ? await findSession(db, id, clock.now()) : null;
  request.latchSession = session;
  return session;
}

/** Signs the browser in as `userId` with a new session cookie, ending the session it had. */
export async function signIn(request: FastifyRequest, reply: FastifyReply, userId: string, amr: string[] = ['pwd']): Promise<void> {
  const { db, clock } = request.server.deps;
  const agent = request.headers['user-agent'];
  const from = { address: request.ip ?? null, userAgent: typeof agent === 'string' ? agent : null };
  const { id, csrfSecret } = await startSession(db, clock, userId, readSigned(request, SESSION_COOKIE), amr, from);
  reply.setCookie(SESSION_COOKIE, id, cookieOptions(request, SESSION_TTL_SECONDS));
  request.latchSession = undefined;
  request.latchCsrfSecret = csrfSecret;
}

/** Ending sessions from a request: this server's database and back-channel logout. */
export const sessionEndDeps = (request: FastifyRequest): SessionEndDeps => ({
  db: request.server.deps.db,
  onSessionsEnded: request.server.backchannelLogout.notify,
});

/** Ends this browser's session (the apps it signed in to hear of it by back-channel); what ended, if anything. */
export async function signOut(request: FastifyRequest, reply: FastifyReply): Promise<EndedSession | null> {
  const id = readSigned(request, SESSION_COOKIE);
  const ended = id ? await endSession(sessionEndDeps(request), id) : null;
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  request.latchSession = null;
  return ended;
}
