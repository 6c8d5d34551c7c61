import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { appsByStatus, findAppFor } from '../manage/apps.js';
import { decideClient, type Decision } from '../manage/clients.js';
import { ValidationError } from '../manage/validation.js';
import { OAuthError } from '../oauth/errors.js';
import { consolePage } from '../web/console-page.js';
import { checkCsrf, csrfToken, requireAdmin } from '../web/session.js';

const DECISIONS = ['approve', 'deny', 'suspend', 'reinstate'] as const satisfies readonly Decision[];

/** Which buttons each status offers; decideClient enforces the same transitions. */
export const ACTIONS: Record<string, Decision[]> = {
  pending: ['approve', 'deny', 'suspend'],
  active: ['suspend'],
  suspended: ['reinstate'],
  denied: ['approve'],
};

const params = z.object({ clientId: z.string().max(200), decision: z.string().max(50) });
const body = z.object({ _csrf: z.string().optional(), reason: z.string().max(1000).optional() });

export const adminRoutes: FastifyPluginAsync = async (app) => {
  const { db, clock } = app.deps;
  const opts = { preHandler: requireAdmin, config: { page: true } };

  async function renderAdmin(request: FastifyRequest, reply: FastifyReply, extra: { errorFor?: string; error?: string; reason?: string } = {}, status = 200) {
    const groups = await appsByStatus(db);
    const csrf: Record<string, string> = {};
    for (const list of Object.values(groups)) {
      for (const c of list) {
        for (const d of ACTIONS[c.status] ?? []) {
          const path = `/admin/apps/${c.client_id}/${d}`;
          csrf[path] = await csrfToken(request, reply, path);
        }
      }
    }
    return consolePage(request, reply, 'admin/apps', { title: 'App approval', groups, actions: ACTIONS, csrf, ...extra }, status);
  }

  app.get('/admin/apps', opts, async (request, reply) => renderAdmin(request, reply));

  app.post('/admin/apps/:clientId/:decision', opts, async (request, reply) => {
    await checkCsrf(request);
    const p = params.safeParse(request.params);
    if (!p.success || !(DECISIONS as readonly string[]).includes(p.data.decision)) {
      throw new OAuthError('not_found', 'No such page', { status: 404 });
    }
    const form = body.safeParse(request.body ?? {});
    if (!form.success) throw new OAuthError('invalid_request', 'The form was malformed; reload the page and try again');
    const session = request.latchSession!;
    const client = await findAppFor(db, { userId: session.userId, isAdmin: true }, p.data.clientId);
    try {
      await decideClient(db, clock, client, p.data.decision as Decision, { userId: session.userId, reason: form.data.reason ?? null });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const error = Object.values(err.fields).join('; ');
      return renderAdmin(request, reply, { errorFor: client.client_id, error, reason: form.data.reason }, 400);
    }
    return reply.redirect(`/admin/apps#app-${client.client_id}`, 303);
  });
};
