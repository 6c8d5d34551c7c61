import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { listAuthorizedApps, revokeAuthorization } from '../manage/authorized-apps.js';
import { OAuthError } from '../oauth/errors.js';
import { parseScope } from '../oauth/scopes.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage } from '../web/pages.js';
import { describeScope } from '../web/scope-descriptions.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireUser } from '../web/guards.js';
import { LOGOUT_PATH } from './login.js';

const APPS_PATH = '/account/apps';
const REVOKE_PATH = '/account/apps/revoke';

const revokeForm = z.object({ client_id: z.string().min(1).max(200) });

/** The signed-in user's authorized apps, each revocable. */
export const accountRoutes: FastifyPluginAsync = async (app) => {
  app.get(APPS_PATH, { config: { page: true }, preHandler: requireUser }, async (request, reply) => {
    const session = request.latchSession!;
    const apps = await listAuthorizedApps(app.deps.db, session.userId);
    return renderPage(reply, 'account/apps', {
      title: 'Authorized apps',
      username: session.username,
      apps: apps.map((a) => ({
        clientId: a.client_id,
        name: a.name,
        website: a.website,
        scopes: parseScope(a.scope).map((name) => ({ name, description: describeScope(name) })),
        since: a.created_at.toISOString(),
        sinceText: a.created_at.toISOString().slice(0, 10),
      })),
      revokeAction: REVOKE_PATH,
      revokeCsrf: await csrfToken(request, reply, REVOKE_PATH),
      logoutAction: LOGOUT_PATH,
      logoutCsrf: await csrfToken(request, reply, LOGOUT_PATH),
    });
  });

  app.post(REVOKE_PATH, { config: { page: true }, preHandler: requireUser }, async (request, reply) => {
    await checkCsrf(request, REVOKE_PATH);
    const parsed = revokeForm.safeParse(request.body);
    if (!parsed.success) throw new OAuthError('invalid_request', 'The form names no application');
    const found = await revokeAuthorization(app.deps.db, app.deps.clock, request.latchSession!.userId, parsed.data.client_id, auditContext(request));
    if (!found) throw new OAuthError('not_found', 'No such application');
    return reply.redirect(APPS_PATH, 303);
  });
};
