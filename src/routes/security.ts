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
import { LOGOUT_PATH } from './login.js';
import { passkeySection } from './passkeys.js';

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
      },
      status,
    );
  };
  const page = { config: { page: true }, preHandler: requireUser };

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
