import type { FastifyReply, FastifyRequest } from 'fastify';
import { csrfToken, loadSession } from './session.js';

/**
 * Renders a signed-in page: never cached (some show a secret once), with what
 * the console's navigation needs.
 */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown>,
  status = 200,
) {
  const session = await loadSession(request);
  const nav = session
    ? { username: session.username, isAdmin: session.isAdmin, logoutCsrf: await csrfToken(request, reply, '/logout') }
    : null;
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .view(view, { ...data, nav });
}

/** 303 after a successful POST, so a reload does not repeat it. */
export const seeOther = (reply: FastifyReply, location: string) => reply.redirect(location, 303);
