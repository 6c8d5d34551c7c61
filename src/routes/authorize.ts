import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { authorize, type AuthorizationOutcome, type ConsentDecision } from '../oauth/authorize/index.js';
import { paramPairs } from '../oauth/authorize/params.js';
import { OAuthError } from '../oauth/errors.js';
import { OOB_URI } from '../oauth/redirect-uris.js';
import { describeScope } from '../web/scope-descriptions.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { loadSession } from '../web/session.js';
import { renderPage } from '../web/pages.js';
import { auditContext } from '../web/audit-context.js';

export const AUTHORIZE_PATH = '/oauth/authorize';

/**
 * GET and POST /oauth/authorize. A client's POST carries the same parameters
 * as a GET and needs no CSRF token; the consent form's POST adds `decision`,
 * and that one must carry the form's CSRF token. The pending request travels
 * through the login page as its return_to URL and through the consent page as
 * hidden fields, and is validated again from scratch each time, so nothing the
 * browser sends back is trusted more than a fresh request.
 */
export const authorizeRoutes: FastifyPluginAsync = async (app) => {
  app.get(AUTHORIZE_PATH, { config: { page: true } }, async (request, reply) =>
    respond(request, reply, asParams(request.query), undefined),
  );

  app.post(AUTHORIZE_PATH, { config: { page: true } }, async (request, reply) => {
    const body = asParams(request.body);
    let decision: ConsentDecision | undefined;
    if ('decision' in body || '_csrf' in body) {
      await checkCsrf(request, AUTHORIZE_PATH);
      if (body.decision !== 'allow' && body.decision !== 'deny') {
        throw new OAuthError('invalid_request', 'The decision must be allow or deny');
      }
      decision = body.decision;
    }
    return respond(request, reply, body, decision);
  });
};

const asParams = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

async function respond(request: FastifyRequest, reply: FastifyReply, params: Record<string, unknown>, decision: ConsentDecision | undefined) {
  const session = await loadSession(request);
  const deps = { ...request.server.deps, signer: request.server.signingKeys };
  const outcome: AuthorizationOutcome = await authorize(deps, params, session, decision, auditContext(request));
  // RFC 9700 §4.12: a POST must not be replayed to the client by a 307.
  const status = request.method === 'POST' ? 303 : 302;
  switch (outcome.kind) {
    case 'redirect':
      return reply.header('cache-control', 'no-store').redirect(outcome.location, status);
    case 'login': {
      const returnTo = `${AUTHORIZE_PATH}?${new URLSearchParams(paramPairs(outcome.params))}`;
      const login = new URLSearchParams({ return_to: returnTo });
      if (outcome.reauth) login.set('reauth', '1');
      if (outcome.loginHint) login.set('login_hint', outcome.loginHint);
      return reply.redirect(`/login?${login}`, status);
    }
    case 'oob':
      return renderPage(reply, 'oob', {
        title: 'Your authorization code',
        appName: outcome.client.name,
        code: outcome.code,
        ttl: request.server.deps.config.codeTtl,
      });
    case 'consent': {
      const { request: pending } = outcome;
      return renderPage(reply, 'consent', {
        title: `Authorize ${pending.client.name}`,
        client: { name: pending.client.name, description: pending.client.description, website: pending.client.website },
        owner: outcome.owner,
        scopes: pending.scope.map((name) => ({ name, description: describeScope(name), isNew: outcome.newScopes.includes(name) })),
        username: session!.username,
        hidden: paramPairs(pending.params),
        redirectHost: redirectHost(pending.redirectUri),
        csrf: await csrfToken(request, reply, AUTHORIZE_PATH),
        action: AUTHORIZE_PATH,
      });
    }
  }
}

/** Shown on the consent page so the user sees where they will be sent. */
function redirectHost(uri: string): string | null {
  if (uri === OOB_URI) return null;
  try {
    return new URL(uri).host || uri;
  } catch {
    return uri;
  }
}
