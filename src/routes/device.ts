import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { UserCodeEntry } from '../accounts/throttle.js';
import { digest } from '../crypto/secrets.js';
import { authenticateClient } from '../oauth/client-auth.js';
import {
  decideDeviceRequest,
  DEVICE_PATH,
  enterUserCode,
  findDeviceRequest,
  formatUserCode,
  startDeviceAuthorization,
  type PendingDeviceRequest,
} from '../oauth/device.js';
import { OAuthError } from '../oauth/errors.js';
import { readParams } from '../oauth/params.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage } from '../web/pages.js';
import { describeScope } from '../web/scope-descriptions.js';
import { loadSession } from '../web/session.js';
import type { Session } from '../accounts/sessions.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { readSigned } from '../web/signed-cookies.js';

export const DEVICE_AUTHORIZATION_PATH = '/oauth/device_authorization';
/**
 * Set (signed, for /device only) by the POST that confirmed a code before
 * sign-in: that code, so the page the login returns to can go straight to
 * consent. Only a CSRF-checked POST with a right code sets it, so a link cannot
 * skip the confirmation (RFC 8628 §5.4); and the code never travels in the
 * return_to URL, which request logs would keep.
 */
const CONFIRMED_COOKIE = 'latch_device';
const WRONG_CODE = 'That code is not right, or it has expired. Check the code on your device and try again.';

/**
 * RFC 8628: the device authorization endpoint, and the verification page where
 * the user enters the code, signs in, and allows or denies. The code travels
 * through the login page in a cookie and through the consent page as a hidden
 * field, and is looked up again (and counted by the entry throttle) on every POST.
 */
export const deviceRoutes: FastifyPluginAsync = async (app) => {
  const deps = app.deps;

  app.post(DEVICE_AUTHORIZATION_PATH, async (request, reply) => {
    const params = readParams(request.body);
    const auth = await authenticateClient(deps.db, request.headers.authorization, params);
    const answer = await startDeviceAuthorization(deps, params, auth);
    return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(answer);
  });

  app.get(DEVICE_PATH, { config: { page: true } }, async (request, reply) => {
    const session = await loadSession(request);
    const confirmed = readConfirmed(request);
    if (session && confirmed) {
      reply.clearCookie(CONFIRMED_COOKIE, { path: DEVICE_PATH });
      const pending = await findDeviceRequest(deps, confirmed, session.userId);
      if (pending) return showConsent(request, reply, session, pending);
      return showForm(request, reply, { error: WRONG_CODE }, 400);
    }
    return showForm(request, reply, { userCode: queryCode(request.query) });
  });

  app.post(DEVICE_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, DEVICE_PATH);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const typed = typeof body.user_code === 'string' ? body.user_code.slice(0, 32) : '';
    const decision = body.decision;
    if (decision !== undefined && decision !== 'allow' && decision !== 'deny') {
      throw new OAuthError('invalid_request', 'The decision must be allow or deny');
    }
    const session = await loadSession(request);
    // The CSRF token for this page stands for the browser: it derives from a secret only it holds.
    const entry: UserCodeEntry = { ip: request.ip, browser: digest(String(body._csrf)) };
    let pending: PendingDeviceRequest | null;
    try {
      pending = await enterUserCode(deps, entry, typed, session?.userId ?? null);
    } catch (err) {
      if (!(err instanceof OAuthError) || err.code !== 'rate_limited') throw err;
      reply.headers(err.headers);
      return showForm(request, reply, { userCode: typed, error: err.description }, 429);
    }
    if (!pending) return showForm(request, reply, { userCode: typed, error: WRONG_CODE }, 400);

    if (!session) {
      reply.setCookie(CONFIRMED_COOKIE, pending.userCode, {
        path: DEVICE_PATH,
        httpOnly: true,
        sameSite: 'lax',
        secure: deps.config.issuer.startsWith('https:'),
        signed: true,
        maxAge: deps.config.deviceCodeTtl,
      });
      return reply.redirect(`/login?return_to=${encodeURIComponent(DEVICE_PATH)}`, 303);
    }
    if (decision === undefined) return showConsent(request, reply, session, pending);
    await decideDeviceRequest(deps, pending, { userId: session.userId, decision, audit: auditContext(request) });
    return renderPage(reply, 'device-done', {
      title: decision === 'allow' ? 'Device connected' : 'Device not connected',
      decision,
      appName: pending.client.name,
    });
  });
};

/** `?user_code=`, when it is one short string (anything else is ignored, not echoed). */
function queryCode(query: unknown): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.user_code;
  return typeof value === 'string' && value.length <= 32 ? value : undefined;
}

function readConfirmed(request: FastifyRequest): string | null {
  return readSigned(request, CONFIRMED_COOKIE);
}

async function showForm(request: FastifyRequest, reply: FastifyReply, data: { userCode?: string; error?: string }, status = 200) {
  const session = await loadSession(request);
  return renderPage(
    reply,
    'device',
    {
      title: 'Connect a device',
      ...data,
      prefilled: data.userCode !== undefined && !data.error,
      username: session?.username,
      csrf: await csrfToken(request, reply, DEVICE_PATH),
      action: DEVICE_PATH,
    },
    status,
  );
}

/** The code flow's consent page, with the code shown so the user can compare it with the device's. */
async function showConsent(request: FastifyRequest, reply: FastifyReply, session: Session, pending: PendingDeviceRequest) {
  const { client } = pending;
  const shown = formatUserCode(pending.userCode);
  return renderPage(reply, 'consent', {
    title: `Authorize ${client.name}`,
    client: { name: client.name, description: client.description, website: client.website },
    owner: client.owner_username,
    scopes: pending.scope.map((name) => ({ name, description: describeScope(name), isNew: pending.newScopes.includes(name) })),
    username: session.username,
    hidden: [['user_code', shown]],
    redirectHost: null,
    userCode: shown,
    csrf: await csrfToken(request, reply, DEVICE_PATH),
    action: DEVICE_PATH,
  });
}
