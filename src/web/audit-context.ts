import type { FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/events.js';
import type { Acting, UserActor } from '../manage/actor.js';

/**
 * Who is acting and from where, for audit events: the signed-in user (or
 * `user`, when the request just proved who it is), else anonymous. The address
 * is the one throttling sees (LATCH_TRUST_PROXY applies).
 */
export function auditContext(request: FastifyRequest, user?: { id: string; username: string }): AuditContext {
  const session = request.latchSession;
  const who = user ?? (session ? { id: session.userId, username: session.username } : null);
  const agent = request.headers['user-agent'];
  return {
    actor: who ? { kind: 'user', id: who.id, name: who.username } : { kind: 'anonymous' },
    address: request.ip ?? null,
    userAgent: typeof agent === 'string' ? agent : null,
  };
}

/** The signed-in user as the management layer's actor, from where they act; the page's guard has made sure there is one. */
export function actingUser(request: FastifyRequest): Acting & { actor: UserActor } {
  const session = request.latchSession!;
  return {
    ...auditContext(request),
    actor: { kind: 'user', id: session.userId, name: session.username, isAdmin: session.isAdmin },
  };
}
