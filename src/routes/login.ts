import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OAuthError } from '../oauth/errors.js';
import { MAX_LOGIN_HINT_LENGTH } from '../oauth/authorize/checks/login-hint.js';
import { verifySignIn } from '../accounts/sign-in.js';
import { recordAudit } from '../audit/record.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage, safeReturnTo } from '../web/pages.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { loadSession, signIn, signOut } from '../web/session.js';

const LOGIN_PATH = '/login';
const LOGOUT_PATH = '/logout';

const loginForm = z.object({
  username: z.string().max(256),
  password: z.string().max(1024),
  return_to: z.string().optional(),
});

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
    let user;
    try {
      const agent = request.headers['user-agent'];
      user = await verifySignIn(app.deps.db, app.deps.clock, { username: username.trim(), password, ip: request.ip, userAgent: typeof agent === 'string' ? agent : null });
    } catch (err) {
      if (err instanceof OAuthError && err.code === 'rate_limited') {
        reply.headers(err.headers);
        return showLogin(request, reply, { returnTo, username, error: err.description }, 429);
      }
      throw err;
    }
    if (!user) return showLogin(request, reply, { returnTo, username, error: FAILED }, 401);
    await signIn(request, reply, user.id);
    return reply.redirect(returnTo, 303);
  });

  app.post(LOGOUT_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, LOGOUT_PATH);
    const session = await loadSession(request);
    await signOut(request, reply);
    if (session) await recordAudit(app.deps.db, { ...auditContext(request, { id: session.userId, username: session.username }), at: app.deps.clock.now(), action: 'signout', user: { id: session.userId, username: session.username } });
    return reply.redirect('/', 303);
  });
};

/** OIDC login_hint: prefills the username when it could be one. */
const loginHint = (value: unknown): string | undefined => (typeof value === 'string' && value.length <= MAX_LOGIN_HINT_LENGTH ? value : undefined);

async function showLogin(
  request: FastifyRequest,
  reply: FastifyReply,
  data: { returnTo: string; username?: string; error?: string },
  status = 200,
) {
  return renderPage(
    reply,
    'login',
    { title: 'Sign in', ...data, csrf: await csrfToken(request, reply, LOGIN_PATH), action: LOGIN_PATH },
    status,
  );
}

export { LOGOUT_PATH };
