import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../oauth/errors.js';
import { loadSession } from './session.js';

/** preHandler for pages that need a signed-in user: others go to the login page and come back. */
export async function requireUser(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const session = await loadSession(request);
  if (!session) {
    const returnTo = request.method === 'GET' ? request.url : '/';
    return reply.redirect(`/login?return_to=${encodeURIComponent(returnTo)}`, 303);
  }
}

/** preHandler for administrators' pages: to anyone else they do not exist (404). */
export async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await requireUser(request, reply);
  if (reply.sent) return;
  if (!request.latchSession?.isAdmin) throw new OAuthError('not_found', 'No such page', { status: 404 });
}
