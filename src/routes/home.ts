import type { FastifyPluginAsync } from 'fastify';
import { renderPage } from '../web/pages.js';
import { csrfToken } from '../web/csrf.js';
import { loadSession } from '../web/session.js';
import { LOGOUT_PATH } from './login.js';

/** The home page: who is signed in, and the way out. */
export const homeRoutes: FastifyPluginAsync = async (app) => {
  app.get('/', { config: { page: true } }, async (request, reply) => {
    const session = await loadSession(request);
    return renderPage(reply, 'home', {
      title: app.deps.config.siteName,
      username: session?.username ?? null,
      isAdmin: session?.isAdmin ?? false,
      logoutAction: LOGOUT_PATH,
      logoutCsrf: session ? await csrfToken(request, reply, LOGOUT_PATH) : null,
    });
  });
};
