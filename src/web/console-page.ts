import type { FastifyReply, FastifyRequest } from 'fastify';
import { renderPage } from './pages.js';
import { csrfToken } from './csrf.js';
import { loadSession } from './session.js';

/**
 * Renders a page of the developer console or the admin pages, with what their
 * navigation needs (who is signed in, a sign-out form); never cached, as some
 * show a secret once.
 */
export async function consolePage(
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
  return renderPage(reply, view, { ...data, nav }, status);
}
