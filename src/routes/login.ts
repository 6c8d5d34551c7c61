import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OAuthError } from '../oauth/errors.js';
import { MAX_LOGIN_HINT_LENGTH } from '../oauth/authorize/checks/login-hint.js';
import { verifySignIn } from '../accounts/sign-in.js';
import { recordAudit } from '../audit/record.js';
import { beginSecondStep, completeSecondStep, findSecondStep } from '../accounts/second-step.js';
import { TOTP_DIGITS, type TotpDeps } from '../accounts/totp.js';
import { clearPendingSignin, readPendingSignin, setPendingSignin } from '../web/pending-signin.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage, safeReturnTo } from '../web/pages.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { loadSession, signIn, signOut } from '../web/session.js';
import { passkeySignInButton } from './passkeys.js';
import { findClientForAuth } from '../store/clients.js';
import type { Executor } from '../store/executor.js';
import { AUTHORIZE_PATH } from './authorize.js';

const LOGIN_PATH = '/login';
const TOTP_PATH = '/login/totp';
const LOGOUT_PATH = '/logout';

const loginForm = z.object({
  username: z.string().max(256),
  password: z.string().max(1024),
  return_to: z.string().optional(),
});

const totpForm = z.object({ code: z.string().max(64) });

/** One message for every mismatch: which of the two was wrong is for the attacker to find out the slow way. */
const FAILED = 'The username or password is incorrect.';

export const loginRoutes: FastifyPluginAsync = async (app) => {
  app.get(LOGIN_PATH, { config: { page: true } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const returnTo = safeReturnTo(query.return_to);
    // reauth=1 (prompt=login, max_age): the form even for a signed-in user, whose sign-in starts a new session.
    if (query.reauth !== '1' && (await loadSession(request))) return reply.redirect(returnTo, 302);
    return showLogin(request, reply, { returnTo, username: loginHint(query.login_hint) });
  });

  app.post(LOGIN_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, LOGIN_PATH);
    const parsed = loginForm.safeParse(request.body);
    if (!parsed.success) throw new OAuthError('invalid_request', 'The sign-in form is malformed');
    const { username, password } = parsed.data;
    const returnTo = safeReturnTo(parsed.data.return_to);
    if (username.trim() === '' || password === '') {
      return showLogin(request, reply, { returnTo, username, error: 'Enter your username and password.' }, 400);
    }
    let result;
    try {
      result = await verifySignIn(app.deps.db, app.deps.clock, { username: username.trim(), password, ip: request.ip, userAgent: userAgent(request), secondStep: true });
    } catch (err) {
      if (err instanceof OAuthError && err.code === 'rate_limited') {
        reply.headers(err.headers);
        return showLogin(request, reply, { returnTo, username, error: err.description }, 429);
      }
      throw err;
    }
    if (!result) return showLogin(request, reply, { returnTo, username, error: FAILED }, 401);
    if (result.needsSecondFactor) {
      setPendingSignin(request, reply, await beginSecondStep(app.deps, result.user.id, returnTo));
      return reply.redirect(TOTP_PATH, 303);
    }
    await signIn(request, reply, result.user.id, ['pwd']);
    return reply.redirect(returnTo, 303);
  });

  const totpDeps: TotpDeps = { db: app.deps.db, clock: app.deps.clock, sealer: app.totpSealer, siteName: app.deps.config.siteName };
  /** The half-done sign-in this browser holds, or null (none, expired, tampered). */
  const pendingOf = async (request: FastifyRequest) => {
    const id = readPendingSignin(request);
    const pending = id ? await findSecondStep(totpDeps, id) : undefined;
    return id && pending ? { id, username: pending.username } : null;
  };
  const startAgain = (reply: FastifyReply) => {
    clearPendingSignin(reply);
    return reply.redirect(LOGIN_PATH, 303);
  };

  app.get(TOTP_PATH, { config: { page: true } }, async (request, reply) => {
    const pending = await pendingOf(request);
    if (!pending) return startAgain(reply);
    return showTotp(request, reply, { username: pending.username });
  });

  app.post(TOTP_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, TOTP_PATH);
    const parsed = totpForm.safeParse(request.body);
    if (!parsed.success) throw new OAuthError('invalid_request', 'The sign-in form is malformed');
    const pending = await pendingOf(request);
    if (!pending) return startAgain(reply);
    let outcome;
    try {
      outcome = await completeSecondStep(totpDeps, pending.id, parsed.data.code, { ip: request.ip, userAgent: userAgent(request) });
    } catch (err) {
      if (err instanceof OAuthError && err.code === 'rate_limited') {
        reply.headers(err.headers);
        return showTotp(request, reply, { username: pending.username, error: err.description }, 429);
      }
      throw err;
    }
    if (!outcome.ok) {
      if (outcome.reason === 'expired') return startAgain(reply);
      return showTotp(request, reply, { username: pending.username, error: outcome.message }, outcome.reason === 'malformed' ? 400 : 401);
    }
    clearPendingSignin(reply);
    // A recovery code is a one-time password too (RFC 8176 `otp`).
    await signIn(request, reply, outcome.user.id, ['pwd', 'otp']);
    return reply.redirect(safeReturnTo(outcome.returnTo), 303);
  });

  app.post(LOGOUT_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, LOGOUT_PATH);
    const session = await loadSession(request);
    await signOut(request, reply);
    if (session) await recordAudit(app.deps.db, { ...auditContext(request, { id: session.userId, username: session.username }), at: app.deps.clock.now(), action: 'signout', user: { id: session.userId, username: session.username } });
    return reply.redirect('/', 303);
  });
};

const userAgent = (request: FastifyRequest) => {
  const agent = request.headers['user-agent'];
  return typeof agent === 'string' ? agent : null;
};

async function showTotp(request: FastifyRequest, reply: FastifyReply, data: { username: string; error?: string }, status = 200) {
  return renderPage(reply, 'totp', { title: 'Two-step sign-in', ...data, digits: TOTP_DIGITS, csrf: await csrfToken(request, reply, TOTP_PATH), action: TOTP_PATH }, status);
}

/** OIDC login_hint: prefills the username when it could be one. */
const loginHint = (value: unknown): string | undefined => (typeof value === 'string' && value.length <= MAX_LOGIN_HINT_LENGTH ? value : undefined);

/**
 * The app a sign-in is for, when it started at /oauth/authorize: the name of
 * the active client its return path names, or null. Only a registered app's
 * own name is shown, never text from the URL.
 */
export async function appSigningInTo(db: Executor, returnTo: string): Promise<string | null> {
  const url = new URL(returnTo, 'http://latch.invalid');
  if (url.pathname !== AUTHORIZE_PATH) return null;
  const clientId = url.searchParams.get('client_id');
  if (!clientId || clientId.length > 200) return null;
  const client = await findClientForAuth(db, clientId);
  return client?.status === 'active' ? client.name : null;
}

async function showLogin(
  request: FastifyRequest,
  reply: FastifyReply,
  data: { returnTo: string; username?: string; error?: string },
  status = 200,
) {
  const appName = await appSigningInTo(request.server.deps.db, data.returnTo);
  return renderPage(
    reply,
    'login',
    // passkey: views/partials/passkey-signin.eta (null when the issuer is an IP address).
    { title: 'Sign in', ...data, appName, csrf: await csrfToken(request, reply, LOGIN_PATH), action: LOGIN_PATH, passkey: await passkeySignInButton(request, reply) },
    status,
  );
}

export { LOGOUT_PATH, TOTP_PATH };
