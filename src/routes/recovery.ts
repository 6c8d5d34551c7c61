import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { verifyEmail } from '../accounts/email-verification.js';
import { LINK_PROBLEMS } from '../accounts/links.js';
import { checkResetLink, requestPasswordReset, resetPassword, type RecoveryDeps } from '../accounts/password-reset.js';
import { mailConfigured } from '../mail/settings.js';
import { MIN_PASSWORD_LENGTH } from '../manage/users.js';
import { OAuthError } from '../oauth/errors.js';
import { auditContext } from '../web/audit-context.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { renderPage } from '../web/pages.js';

export const FORGOT_PATH = '/forgot-password';
export const RESET_PATH = '/reset-password';
export const VERIFY_PATH = '/verify-email';

const forgotForm = z.object({ email: z.string().max(320) });
const resetForm = z.object({ token: z.string().max(200), password: z.string().max(1024) });

/** The same words for every request, whether or not an account has the address. */
const SENT = 'If an account has that e-mail address, a link to choose a new password is on its way. It works once, for 30 minutes.';

/**
 * Password reset by e-mail (`/forgot-password`, only with LATCH_SMTP_URL) and
 * the one-time links latch mails or prints: `/reset-password` (also the
 * links `bin/latch user reset-password` prints without e-mail) and
 * `/verify-email`. A link that does not work is a plain page, never an error.
 */
export const recoveryRoutes: FastifyPluginAsync = async (app) => {
  const deps: RecoveryDeps = { db: app.deps.db, clock: app.deps.clock, config: app.deps.config, log: app.log };
  const mailOn = mailConfigured(app.deps.config);

  const ensureMail = async () => {
    if (!mailOn) {
      throw new OAuthError('not_found', 'This server sends no e-mail, so it cannot reset passwords by e-mail: ask an administrator for a reset link.', {
        status: 404,
        page: { title: 'Password reset is not available' },
      });
    }
  };

  const showForgot = async (request: FastifyRequest, reply: FastifyReply, data: { notice?: string; error?: string } = {}, status = 200) =>
    renderPage(reply, 'forgot-password', { title: 'Forgot your password?', ...data, action: FORGOT_PATH, csrf: await csrfToken(request, reply, FORGOT_PATH) }, status);

  app.get(FORGOT_PATH, { config: { page: true }, preHandler: ensureMail }, async (request, reply) => showForgot(request, reply));

  app.post(FORGOT_PATH, { config: { page: true }, preHandler: ensureMail }, async (request, reply) => {
    await checkCsrf(request, FORGOT_PATH);
    const parsed = forgotForm.safeParse(request.body ?? {});
    if (!parsed.success) throw new OAuthError('invalid_request', 'The form is malformed; reload the page and try again');
    const email = parsed.data.email.trim();
    if (email === '') return showForgot(request, reply, { error: 'Enter the e-mail address of your account.' }, 400);
    try {
      await requestPasswordReset(deps, email, auditContext(request));
    } catch (err) {
      if (!(err instanceof OAuthError) || err.code !== 'rate_limited') throw err;
      reply.headers(err.headers);
      return showForgot(request, reply, { error: err.description }, 429);
    }
    return showForgot(request, reply, { notice: SENT });
  });

  const showReset = async (request: FastifyRequest, reply: FastifyReply, data: Record<string, unknown>, status = 200) =>
    renderPage(
      reply,
      'reset-password',
      { title: 'Choose a new password', minLength: MIN_PASSWORD_LENGTH, mailOn, action: RESET_PATH, csrf: await csrfToken(request, reply, RESET_PATH), ...data },
      status,
    );

  app.get(RESET_PATH, { config: { page: true } }, async (request, reply) => {
    const token = (request.query as Record<string, unknown>).token;
    const state = await checkResetLink(deps, token);
    if (!state.ok) return showReset(request, reply, { problem: LINK_PROBLEMS[state.problem] }, 400);
    return showReset(request, reply, { token, username: state.username });
  });

  app.post(RESET_PATH, { config: { page: true } }, async (request, reply) => {
    await checkCsrf(request, RESET_PATH);
    const parsed = resetForm.safeParse(request.body ?? {});
    if (!parsed.success) throw new OAuthError('invalid_request', 'The form is malformed; open the link from the mail again');
    const { token, password } = parsed.data;
    const outcome = await resetPassword({ ...deps, onSessionsEnded: app.backchannelLogout.notify }, token, password, auditContext(request));
    if (outcome.ok) return showReset(request, reply, { done: true, username: outcome.username });
    if ('problem' in outcome) return showReset(request, reply, { problem: LINK_PROBLEMS[outcome.problem] }, 400);
    const state = await checkResetLink(deps, token);
    return showReset(request, reply, { token, username: state.ok ? state.username : undefined, error: outcome.message }, 400);
  });

  app.get(VERIFY_PATH, { config: { page: true } }, async (request, reply) => {
    const outcome = await verifyEmail(deps, (request.query as Record<string, unknown>).token, auditContext(request));
    if (outcome.ok) return renderPage(reply, 'verify-email', { title: 'E-mail address confirmed', email: outcome.email });
    const problem = outcome.problem === 'changed' ? 'This link was for an address that is no longer on the account.' : LINK_PROBLEMS[outcome.problem];
    return renderPage(reply, 'verify-email', { title: 'E-mail address not confirmed', problem }, 400);
  });
};
