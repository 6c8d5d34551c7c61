import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { changePassword, confirmEnrolment, disableTotp, type Actor } from '../accounts/security.js';
import { RECOVERY_CODE_COUNT, startEnrolment, totpState, TOTP_DIGITS, type TotpDeps } from '../accounts/totp.js';
import { MIN_PASSWORD_LENGTH } from '../manage/users.js';
import { OAuthError } from '../oauth/errors.js';
import { countUnusedRecoveryCodes } from '../store/totp.js';
import { auditContext } from '../web/audit-context.js';
import { renderPage } from '../web/pages.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireUser } from '../web/guards.js';
import { sessionEndDeps } from '../web/session.js';
import { LOGOUT_PATH } from './login.js';
import { passkeySection } from './passkeys.js';
// recovery (issue 13): sessions and e-mail sections
import { changeEmail } from '../accounts/email-verification.js';
import { describeUserAgent, endOtherSessions, sessionsOf } from '../accounts/session-list.js';
import type { RecoveryDeps } from '../accounts/password-reset.js';
import { findUserById } from '../store/users.js';
import { mailConfigured } from '../mail/settings.js';
// end recovery

export const SECURITY_PATH = '/account/security';
const PATHS = {
  totpStart: `${SECURITY_PATH}/totp`,
  totpConfirm: `${SECURITY_PATH}/totp/confirm`,
  totpDisable: `${SECURITY_PATH}/totp/disable`,
  password: `${SECURITY_PATH}/password`,
} as const;

const codeForm = z.object({ code: z.string().max(64) });
const disableForm = z.object({ password: z.string().max(1024) });
const passwordForm = z.object({ current_password: z.string().max(1024), new_password: z.string().max(1024) });

// recovery (issue 13): the session list and the e-mail address
const RECOVERY_PATHS = {
  sessionEnd: `${SECURITY_PATH}/sessions/end`,
  sessionsEndOthers: `${SECURITY_PATH}/sessions/end-others`,
  email: `${SECURITY_PATH}/email`,
} as const;
const sessionEndForm = z.object({ sid: z.string().min(1).max(64) });
const emailForm = z.object({ email: z.string().max(320), password: z.string().max(1024) });
// end recovery

/** What one rendering of the page adds to the current state: a notice, errors by field, recovery codes just issued. */
interface Shown {
  notice?: string;
  errors?: Record<string, string>;
  recoveryCodes?: string[];
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new OAuthError('invalid_request', 'The form is malformed; reload the page and try again');
  return parsed.data;
}

/** `/account/security`: two-step sign-in (TOTP) and the password, for the signed-in user. Every form is CSRF-checked. */
export const securityRoutes: FastifyPluginAsync = async (app) => {
  const deps: TotpDeps = { db: app.deps.db, clock: app.deps.clock, sealer: app.totpSealer, siteName: app.deps.config.siteName };
  const actorOf = (request: FastifyRequest): Actor => {
    const s = request.latchSession!;
    return { user: { id: s.userId, username: s.username }, audit: auditContext(request) };
  };

  const show = async (request: FastifyRequest, reply: FastifyReply, shown: Shown = {}, status = 200) => {
    const { user } = actorOf(request);
    const totp = await totpState(deps, user);
    const csrf: Record<string, string> = { logout: await csrfToken(request, reply, LOGOUT_PATH) };
    for (const [name, path] of Object.entries(PATHS)) csrf[name] = await csrfToken(request, reply, path);
    const recovery = await recoverySection(request, reply); // recovery (issue 13)
    return renderPage(
      reply,
      'security',
      {
        title: 'Account security',
        username: user.username,
        totp,
        backupsLeft: totp.state === 'on' ? await countUnusedRecoveryCodes(deps.db, user.id) : 0,
        recoveryCodeCount: RECOVERY_CODE_COUNT,
        digits: TOTP_DIGITS,
        minLength: MIN_PASSWORD_LENGTH,
        paths: { ...PATHS, logout: LOGOUT_PATH },
        csrf,
        notice: shown.notice ?? null,
        errors: shown.errors ?? {},
        recoveryCodes: shown.recoveryCodes ?? null,
        // Passkeys: views/partials/passkeys.eta.
        passkeys: await passkeySection(request, reply),
        recovery, // recovery (issue 13)
      },
      status,
    );
  };
  const page = { config: { page: true }, preHandler: requireUser };

  // recovery (issue 13): sessions ("sign out this session", "sign out everywhere else") and changing the e-mail address
  const recoveryDeps: RecoveryDeps = { db: app.deps.db, clock: app.deps.clock, config: app.deps.config, log: app.log };
  async function recoverySection(request: FastifyRequest, reply: FastifyReply) {
    const session = request.latchSession!;
    const csrf: Record<string, string> = {};
    for (const [name, path] of Object.entries(RECOVERY_PATHS)) csrf[name] = await csrfToken(request, reply, path);
    const user = await findUserById(deps.db, session.userId);
    const sessions = (await sessionsOf(deps, session)).map((s) => ({ ...s, browser: describeUserAgent(s.userAgent) }));
    return { paths: RECOVERY_PATHS, csrf, sessions, email: user?.email ?? null, emailVerified: user?.email_verified ?? false, mailOn: mailConfigured(app.deps.config) };
  }

  app.post(RECOVERY_PATHS.sessionEnd, page, async (request, reply) => {
    await checkCsrf(request, RECOVERY_PATHS.sessionEnd);
    const { sid } = parse(sessionEndForm, request.body);
    const ended = await endOtherSessions({ ...sessionEndDeps(request), clock: deps.clock }, request.latchSession!, { sid }, auditContext(request));
    return show(request, reply, { notice: ended > 0 ? 'That session is signed out.' : 'That session had already ended.' });
  });

  app.post(RECOVERY_PATHS.sessionsEndOthers, page, async (request, reply) => {
    await checkCsrf(request, RECOVERY_PATHS.sessionsEndOthers);
    const ended = await endOtherSessions({ ...sessionEndDeps(request), clock: deps.clock }, request.latchSession!, 'all', auditContext(request));
    return show(request, reply, { notice: ended === 1 ? 'One other session is signed out.' : `${ended} other sessions are signed out.` });
  });

  app.post(RECOVERY_PATHS.email, page, async (request, reply) => {
    await checkCsrf(request, RECOVERY_PATHS.email);
    const form = parse(emailForm, request.body);
    const result = await changeEmail(recoveryDeps, actorOf(request), form.email, form.password);
    if (!result.ok) return show(request, reply, { errors: { [result.field]: result.message } }, 400);
    const notice = form.email.trim() === '' ? 'Your e-mail address is removed.' : result.value.mailed ? 'Your e-mail address is changed. Open the link we sent to it to confirm it.' : 'Your e-mail address is changed.';
    return show(request, reply, { notice });
  });
  // end recovery

  app.get(SECURITY_PATH, page, async (request, reply) => show(request, reply));

  app.post(PATHS.totpStart, page, async (request, reply) => {
    await checkCsrf(request, PATHS.totpStart);
    const started = await startEnrolment(deps, actorOf(request).user);
    if (!started) return show(request, reply, { notice: 'Two-step sign-in is already on.' }, 409);
    return reply.redirect(SECURITY_PATH, 303);
  });

  app.post(PATHS.totpConfirm, page, async (request, reply) => {
    await checkCsrf(request, PATHS.totpConfirm);
    const result = await confirmEnrolment(deps, actorOf(request), parse(codeForm, request.body).code);
    if (!result.ok) return show(request, reply, { errors: { [result.field]: result.message } }, 400);
    return show(request, reply, { notice: 'Two-step sign-in is on.', recoveryCodes: result.value });
  });

  app.post(PATHS.totpDisable, page, async (request, reply) => {
    await checkCsrf(request, PATHS.totpDisable);
    const result = await disableTotp(deps, actorOf(request), parse(disableForm, request.body).password);
    if (!result.ok) return show(request, reply, { errors: { [`disable_${result.field}`]: result.message } }, 400);
    return show(request, reply, { notice: 'Two-step sign-in is off.' });
  });

  app.post(PATHS.password, page, async (request, reply) => {
    await checkCsrf(request, PATHS.password);
    const form = parse(passwordForm, request.body);
    const result = await changePassword(deps, actorOf(request), form.current_password, form.new_password);
    if (!result.ok) return show(request, reply, { errors: { [result.field]: result.message } }, 400);
    return show(request, reply, { notice: 'Your password is changed.' });
  });
};
