import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { appApprovalPage, ClientChangedError, clientVersion, decideClient, decisionsFrom, parseClientVersion, TRANSITIONS } from '../manage/clients/index.js';
import { ValidationError } from '../manage/validation.js';
import { OAuthError } from '../oauth/errors.js';
import { actingUser } from '../web/audit-context.js';
import { consolePage } from '../web/console-page.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireAdmin } from '../web/guards.js';

const params = z.object({ clientId: z.string().max(200), decision: z.string().max(50) });
const body = z.object({
  _csrf: z.string().optional(),
  reason: z.string().max(1000).optional(),
  // The version of the app the page showed: a decision applies to what the administrator saw.
  version: z.string().max(20).transform(parseClientVersion).pipe(z.date()),
});

export const adminRoutes: FastifyPluginAsync = async (app) => {
  const opts = { preHandler: requireAdmin, config: { page: true } };

  async function renderAdmin(request: FastifyRequest, reply: FastifyReply, extra: { errorFor?: string; error?: string; reason?: string } = {}, status = 200) {
    const query = (request.method === 'GET' ? request.query ?? {} : {}) as Record<string, unknown>;
    const param = (name: string) => {
      const v = query[name];
      if (v === undefined || (typeof v === 'string' && v.length <= 300)) return v as string | undefined;
      throw new ValidationError({ [name]: 'give it once, at most 300 characters' });
    };
    let page;
    try {
      page = await appApprovalPage(app.deps, actingUser(request).actor, { status: param('status'), after: param('after') });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const error = Object.entries(err.fields).map(([f, m]) => `${f}: ${m}`).join('; ');
      return consolePage(request, reply, 'admin/apps', { title: 'App approval', sections: {}, only: null, pageError: error, decisionsFrom, transitions: TRANSITIONS, csrf: {}, versionOf: clientVersion }, 400);
    }
    const csrf: Record<string, string> = {};
    for (const section of Object.values(page.sections)) {
      for (const c of section.items) {
        for (const d of decisionsFrom(c.status)) {
          const path = `/admin/apps/${c.client_id}/${d}`;
          csrf[path] = await csrfToken(request, reply, path);
        }
      }
    }
    return consolePage(request, reply, 'admin/apps', { title: 'App approval', sections: page.sections, only: page.only, decisionsFrom, transitions: TRANSITIONS, csrf, versionOf: clientVersion, ...extra }, status);
  }

  app.get('/admin/apps', opts, async (request, reply) => renderAdmin(request, reply));

  app.post('/admin/apps/:clientId/:decision', opts, async (request, reply) => {
    await checkCsrf(request);
    const p = params.safeParse(request.params);
    if (!p.success) throw new OAuthError('not_found', 'No such page', { status: 404 });
    const form = body.safeParse(request.body ?? {});
    if (!form.success) throw new OAuthError('invalid_request', 'The form was malformed; reload the page and try again');
    try {
      const client = await decideClient(app.deps, actingUser(request), p.data.clientId, p.data.decision, { reason: form.data.reason, version: form.data.version });
      return reply.redirect(`/admin/apps#app-${client.client_id}`, 303);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const error = Object.values(err.fields).join('; ');
      return renderAdmin(request, reply, { errorFor: p.data.clientId, error, reason: form.data.reason }, err instanceof ClientChangedError ? 409 : 400);
    }
  });
};
