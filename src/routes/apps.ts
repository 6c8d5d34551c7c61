import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  clientOverview,
  createTestToken,
  deleteClient,
  editClient,
  findClientFor,
  listClientsFor,
  registerClient,
  revokeTestToken,
  rotateClientSecret,
} from '../manage/clients/index.js';
import { administers } from '../manage/actor.js';
import { ValidationError } from '../manage/validation.js';
import { OAuthError } from '../oauth/errors.js';
import { parseScope } from '../oauth/scopes.js';
import {
  appFormBody,
  blankValues,
  checked,
  clientInput,
  grantChoicesFor,
  optionalSeconds,
  valuesFromBody,
  valuesFromClient,
  type AppFormValues,
} from '../web/app-form.js';
import { actingUser } from '../web/audit-context.js';
import { consolePage } from '../web/console-page.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireUser } from '../web/guards.js';
import { SIGNING_ALGS } from '../oidc/keys.js';

const params = z.object({ clientId: z.string().max(200) });
const tokenParams = params.extend({ tokenId: z.string().max(200) });

const tokenBody = z.object({
  _csrf: z.string().optional(),
  label: z.string().max(1000).optional(),
  ttl: z.string().max(20).optional(),
  scopes: checked,
});

/** Lifetimes offered for test tokens; by default they never expire, as a developer testing an API expects. */
export const TOKEN_LIFETIMES = [
  { value: '', label: 'never expires' },
  { value: '3600', label: '1 hour' },
  { value: '86400', label: '1 day' },
  { value: '604800', label: '7 days' },
  { value: '2592000', label: '30 days' },
  { value: '31536000', label: '1 year' },
];

/** Notices a redirect may ask the app page to show; only these fixed texts, never reflected input. */
const NOTICES: Record<string, string> = {
  saved: 'Settings saved.',
  review: 'Settings saved. An administrator needs to approve the changes; until then the app cannot be used.',
  revoked: 'The token was revoked; it no longer works.',
};

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new OAuthError('invalid_request', 'The form was malformed; reload the page and try again');
  return result.data;
}

const actorOf = (request: FastifyRequest) => actingUser(request).actor;

export const appRoutes: FastifyPluginAsync = async (app) => {
  const deps = app.deps;
  const { clock, config } = deps;
  const opts = { preHandler: requireUser, config: { page: true } };

  async function renderForm(
    request: FastifyRequest,
    reply: FastifyReply,
    form: { action: string; values: AppFormValues; errors: Record<string, string>; editing: boolean; clientId?: string; grants?: string[] },
    status = 200,
  ) {
    const admin = administers(actorOf(request));
    return consolePage(
      request,
      reply,
      'console/form',
      {
        title: form.editing ? 'Edit app' : 'Register an app',
        ...form,
        knownScopes: config.scopes,
        reviewed: config.appApproval === 'manual' && !admin,
        // What only administrators may enable is not offered to anyone else (RFC 9700).
        admin,
        grantChoices: grantChoicesFor(admin, form.grants ?? []),
        signingAlgs: SIGNING_ALGS,
        csrf: await csrfToken(request, reply, form.action),
      },
      status,
    );
  }

  async function showApp(request: FastifyRequest, reply: FastifyReply, clientId: string, extra: Record<string, unknown> = {}, status = 200) {
    const overview = await clientOverview(deps, actorOf(request), clientId);
    const client = overview.client;
    const base = `/apps/${client.client_id}`;
    const asked = (request.query as Record<string, unknown> | undefined)?.notice;
    const notice = typeof asked === 'string' && Object.hasOwn(NOTICES, asked) ? NOTICES[asked] : undefined;
    const csrf = {
      rotate: await csrfToken(request, reply, `${base}/secret`),
      token: await csrfToken(request, reply, `${base}/tokens`),
      revoke: {} as Record<string, string>,
    };
    for (const t of overview.tokens) {
      if (!t.revoked_at) csrf.revoke[t.id] = await csrfToken(request, reply, `${base}/tokens/${t.id}/revoke`);
    }
    return consolePage(
      request,
      reply,
      'console/show',
      {
        title: client.name,
        ...overview,
        now: clock.now(),
        lifetimes: TOKEN_LIFETIMES,
        csrf,
        notice,
        tokenErrors: {},
        ...extra,
      },
      status,
    );
  }

  app.get('/apps', opts, async (request, reply) => {
    // Everyone's own apps, administrators too: all apps are on the approval page.
    const apps = await listClientsFor(deps, actorOf(request), { ownerId: actorOf(request).id });
    return consolePage(request, reply, 'console/list', { title: 'Your apps', apps, approval: config.appApproval });
  });

  app.get('/apps/new', opts, async (request, reply) =>
    renderForm(request, reply, { action: '/apps', values: blankValues(config.scopes), errors: {}, editing: false }),
  );

  app.post('/apps', opts, async (request, reply) => {
    await checkCsrf(request);
    const values = valuesFromBody(parse(appFormBody, request.body));
    try {
      const by = actingUser(request);
      const { client, secret } = await registerClient(deps, by, clientInput(values, administers(by.actor)));
      return consolePage(request, reply, 'console/credentials', { title: 'App registered', client, secret, created: true }, 201);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderForm(request, reply, { action: '/apps', values, errors: err.fields, editing: false }, 400);
    }
  });

  app.get('/apps/:clientId', opts, async (request, reply) => showApp(request, reply, parse(params, request.params).clientId));

  app.get('/apps/:clientId/edit', opts, async (request, reply) => {
    const client = await findClientFor(deps, actorOf(request), parse(params, request.params).clientId);
    return renderForm(request, reply, {
      action: `/apps/${client.client_id}/edit`,
      values: valuesFromClient(client),
      errors: {},
      editing: true,
      clientId: client.client_id,
      grants: client.grant_types,
    });
  });

  app.post('/apps/:clientId/edit', opts, async (request, reply) => {
    await checkCsrf(request);
    const { clientId } = parse(params, request.params);
    const values = valuesFromBody(parse(appFormBody, request.body));
    // The type is fixed at registration: a public app has no secret to turn confidential with.
    const { confidential: _fixed, ...input } = clientInput(values, administers(actorOf(request)));
    try {
      const { before, after } = await editClient(deps, actingUser(request), clientId, input);
      const notice = after.status === 'pending' && before.status !== 'pending' ? 'review' : 'saved';
      return reply.redirect(`/apps/${after.client_id}?notice=${notice}`, 303);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const client = await findClientFor(deps, actorOf(request), clientId);
      const kept = { ...values, client_type: valuesFromClient(client).client_type };
      return renderForm(
        request,
        reply,
        { action: `/apps/${client.client_id}/edit`, values: kept, errors: err.fields, editing: true, clientId: client.client_id, grants: client.grant_types },
        400,
      );
    }
  });

  app.post('/apps/:clientId/secret', opts, async (request, reply) => {
    await checkCsrf(request);
    const { client, secret } = await rotateClientSecret(deps, actingUser(request), parse(params, request.params).clientId);
    return consolePage(request, reply, 'console/credentials', { title: 'New client secret', client, secret, created: false });
  });

  app.get('/apps/:clientId/delete', opts, async (request, reply) => {
    const client = await findClientFor(deps, actorOf(request), parse(params, request.params).clientId);
    const csrf = await csrfToken(request, reply, `/apps/${client.client_id}/delete`);
    return consolePage(request, reply, 'console/delete', { title: `Delete ${client.name}`, client, csrf });
  });

  app.post('/apps/:clientId/delete', opts, async (request, reply) => {
    await checkCsrf(request);
    await deleteClient(deps, actingUser(request), parse(params, request.params).clientId);
    return reply.redirect('/apps', 303);
  });

  app.post('/apps/:clientId/tokens', opts, async (request, reply) => {
    await checkCsrf(request);
    const { clientId } = parse(params, request.params);
    const body = parse(tokenBody, request.body);
    try {
      const { client, token } = await createTestToken(deps, actingUser(request), clientId, {
        scope: body.scopes.flatMap((s) => parseScope(s)),
        ttl: optionalSeconds(body.ttl ?? ''),
        label: body.label ?? null,
      });
      return consolePage(request, reply, 'console/token', { title: 'Test token created', client, token }, 201);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return showApp(request, reply, clientId, { tokenErrors: err.fields, tokenValues: body }, 400);
    }
  });

  app.post('/apps/:clientId/tokens/:tokenId/revoke', opts, async (request, reply) => {
    await checkCsrf(request);
    const p = parse(tokenParams, request.params);
    const { client, revoked } = await revokeTestToken(deps, actingUser(request), p.clientId, p.tokenId);
    if (!revoked) throw new OAuthError('not_found', 'No such live token', { status: 404 });
    return reply.redirect(`/apps/${client.client_id}?notice=revoked`, 303);
  });
};
