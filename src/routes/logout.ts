import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { recordAudit } from '../audit/record.js';
import { afterLogout, checkLogoutRequest, endsWithoutAsking, type LogoutRequest } from '../oidc/logout-request.js';
import { auditContext } from '../web/audit-context.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { renderPage } from '../web/pages.js';
import { loadSession, signOut } from '../web/session.js';

export const END_SESSION_PATH = '/oauth/logout';

/**
 * OpenID Connect RP-Initiated Logout 1.0 (`end_session_endpoint`), by GET or
 * POST. A POST carrying `_csrf` is the user's answer on the confirmation page;
 * any other request comes from an app.
 */
export const logoutRoutes: FastifyPluginAsync = async (app) => {
  const { db, config, clock } = app.deps;
  const deps = { db, issuer: config.issuer, jwks: () => app.signingKeys.jwks() };

  async function endAndLeave(request: FastifyRequest, reply: FastifyReply, logout: LogoutRequest) {
    const session = await loadSession(request);
    const ended = await signOut(request, reply);
    if (session && ended) {
      const user = { id: session.userId, username: session.username };
      await recordAudit(db, { ...auditContext(request, user), at: clock.now(), action: 'signout', user, client: logout.client, details: { via: 'end_session_endpoint' } });
    }
    const target = afterLogout(logout);
    if (target) return reply.redirect(target, 303);
    return renderPage(reply, 'signed-out', { title: 'Signed out', client: logout.client });
  }

  async function handle(request: FastifyRequest, reply: FastifyReply, params: unknown) {
    const logout = await checkLogoutRequest(deps, params);
    const session = await loadSession(request);
    if (endsWithoutAsking(logout, session?.userId ?? null)) return endAndLeave(request, reply, logout);
    return renderPage(reply, 'logout', {
      title: 'Sign out?',
      username: session!.username,
      client: logout.client,
      redirectUri: logout.redirectUri,
      state: logout.state,
      csrf: await csrfToken(request, reply, END_SESSION_PATH),
      action: END_SESSION_PATH,
    });
  }

  app.get(END_SESSION_PATH, { config: { page: true } }, async (request, reply) => handle(request, reply, request.query));

  app.post(END_SESSION_PATH, { config: { page: true } }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body._csrf === undefined) return handle(request, reply, body);
    await checkCsrf(request, END_SESSION_PATH);
    // The form repeats what was checked before it was shown; checked again, it needs no hint.
    const { _csrf, ...params } = body;
    return endAndLeave(request, reply, await checkLogoutRequest(deps, params));
  });
};
