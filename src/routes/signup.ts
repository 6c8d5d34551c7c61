import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { createUser, MIN_PASSWORD_LENGTH } from '../manage/users.js';
import { ValidationError } from '../manage/validation.js';
import { OAuthError } from '../oauth/errors.js';
import { admitSignup } from '../accounts/throttle.js';
import { sendEmailVerification } from '../accounts/email-verification.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage, safeReturnTo } from '../web/pages.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { loadSession, signIn } from '../web/session.js';

const SIGNUP_PATH = '/signup';
/** Where a new account lands unless it came from somewhere on this site: most sign up to register an app. */
const AFTER_SIGNUP = '/apps';

const signupForm = z.object({
  _csrf: z.string().optional(),
  username: z.string().max(256),
  email: z.string().max(320).optional(),
  password: z.string().max(1024),
  return_to: z.string().max(4096).optional(),
});

interface FormState {
  returnTo: string;
  username?: string;
  email?: string;
  errors?: Record<string, string>;
  error?: string;
}

/** `/signup`, only when LATCH_SIGNUP=open; when closed it answers 404 with a page saying so. */
export const signupRoutes: FastifyPluginAsync = async (app) => {
  const { db, clock, config } = app.deps;

  const show = async (request: FastifyRequest, reply: FastifyReply, state: FormState, status = 200) =>
    renderPage(
      reply,
      'signup',
      { title: 'Create an account', ...state, errors: state.errors ?? {}, minLength: MIN_PASSWORD_LENGTH, action: SIGNUP_PATH, csrf: await csrfToken(request, reply, SIGNUP_PATH) },
      status,
    );

  const ensureOpen = async () => {
    if (config.signup !== 'open') {
      throw new OAuthError('not_found', 'Sign-up is closed on this server: ask an administrator to create an account for you.', {
        status: 404,
        page: { title: 'Sign-up is closed' },
      });
    }
  };

  app.get(SIGNUP_PATH, { config: { page: true }, preHandler: ensureOpen }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const returnTo = typeof query.return_to === 'string' ? safeReturnTo(query.return_to) : AFTER_SIGNUP;
    if (await loadSession(request)) return reply.redirect(returnTo, 302);
    return show(request, reply, { returnTo });
  });

  app.post(SIGNUP_PATH, { config: { page: true }, preHandler: ensureOpen }, async (request, reply) => {
    await checkCsrf(request, SIGNUP_PATH);
    const parsed = signupForm.safeParse(request.body ?? {});
    if (!parsed.success) throw new OAuthError('invalid_request', 'The sign-up form is malformed; reload the page and try again');
    const { username, password } = parsed.data;
    const email = parsed.data.email?.trim() || null;
    const returnTo = parsed.data.return_to ? safeReturnTo(parsed.data.return_to) : AFTER_SIGNUP;
    const keep = { returnTo, username, email: email ?? '' };
    try {
      await admitSignup(db, clock, request.ip);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      reply.headers(err.headers);
      return show(request, reply, { ...keep, error: err.description }, err.status);
    }
    let user;
    try {
      user = await createUser(db, clock, { username: username.trim(), email, password }, auditContext(request));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return show(request, reply, { ...keep, errors: err.fields }, 400);
    }
    // With e-mail, the address is confirmed by a link; until then email_verified is false.
    await sendEmailVerification({ db, clock, config, log: request.log }, user);
    await signIn(request, reply, user.id);
    return reply.redirect(returnTo, 303);
  });
};
