import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  beginPasskeySignIn,
  beginRegistration,
  finishPasskeySignIn,
  finishRegistration,
  listPasskeys,
  MAX_PASSKEY_NAME,
  relyingParty,
  removeOwnPasskey,
  renameOwnPasskey,
  type PasskeyDeps,
  type RelyingParty,
} from '../accounts/passkeys.js';
import type { Actor } from '../accounts/security.js';
import { OAuthError } from '../oauth/errors.js';
import { auditContext } from '../web/audit-context.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireUser } from '../web/guards.js';
import { safeReturnTo } from '../web/pages.js';
import { loadSession, signIn } from '../web/session.js';
import { clearWebauthnChallenge, readWebauthnChallenge, setWebauthnChallenge } from '../web/webauthn-cookie.js';

export const PASSKEY_PATHS = {
  registerOptions: '/account/passkeys/options',
  register: '/account/passkeys',
  rename: '/account/security/passkeys/rename',
  remove: '/account/security/passkeys/remove',
  signinOptions: '/login/passkey/options',
  signin: '/login/passkey',
} as const;
const SECURITY_PATH = '/account/security';

export const NEEDS_HOST_NAME = 'Passkeys need a host name: browsers refuse an IP address as the relying party. Set LATCH_ISSUER to a URL with a host name (http://localhost:PORT works in development).';

const optionsBody = z.object({ return_to: z.string().max(4096).optional() });
const registerBody = z.object({ response: z.record(z.string(), z.unknown()), name: z.string().max(1024).optional() });
const signinBody = z.object({ response: z.record(z.string(), z.unknown()) });
const renameForm = z.object({ id: z.string().max(1024), name: z.string().max(1024) });
const removeForm = z.object({ id: z.string().max(1024) });

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new OAuthError('invalid_request', `The ${what} is malformed`);
  return parsed.data;
}

/** A clear 400 when the issuer is an IP address: no relying party to register a passkey with. */
function requireRp(rp: RelyingParty | null): RelyingParty {
  if (!rp) throw new OAuthError('invalid_request', NEEDS_HOST_NAME);
  return rp;
}

const actorOf = (request: FastifyRequest): Actor => {
  const s = request.latchSession!;
  return { user: { id: s.userId, username: s.username }, audit: auditContext(request) };
};

const userAgent = (request: FastifyRequest) => {
  const agent = request.headers['user-agent'];
  return typeof agent === 'string' ? agent : null;
};

/**
 * Passkeys: adding, naming and removing them on /account/security, and
 * signing in with one from the login page. The WebAuthn steps are JSON (called
 * by latch's own script, /static/passkeys.js); naming and removing are plain
 * forms. Every POST is CSRF-checked.
 */
export const passkeyRoutes: FastifyPluginAsync = async (app) => {
  const rp = relyingParty(app.deps.config.issuer, app.deps.config.siteName);
  const deps = (): PasskeyDeps => ({ db: app.deps.db, clock: app.deps.clock, rp: requireRp(rp) });
  const json = { preHandler: requireJsonUser };

  app.post(PASSKEY_PATHS.registerOptions, json, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.registerOptions);
    const begun = await beginRegistration(deps(), actorOf(request).user);
    if (!begun.ok) throw new OAuthError('invalid_request', begun.message);
    setWebauthnChallenge(request, reply, begun.value.browserId);
    return reply.header('cache-control', 'no-store').send({ options: begun.value.options });
  });

  app.post(PASSKEY_PATHS.register, json, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.register);
    const body = parse(registerBody, request.body, 'passkey registration');
    const done = await finishRegistration(deps(), actorOf(request), readWebauthnChallenge(request), body.response, body.name);
    clearWebauthnChallenge(reply);
    if (!done.ok) throw new OAuthError('invalid_request', done.message);
    return reply.code(201).header('cache-control', 'no-store').send({ passkey: done.value, redirect: SECURITY_PATH });
  });

  app.post(PASSKEY_PATHS.signinOptions, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.signinOptions);
    const body = parse(optionsBody, request.body, 'passkey sign-in request');
    const begun = await beginPasskeySignIn(deps(), safeReturnTo(body.return_to));
    setWebauthnChallenge(request, reply, begun.browserId);
    return reply.header('cache-control', 'no-store').send({ options: begun.options });
  });

  app.post(PASSKEY_PATHS.signin, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.signin);
    const body = parse(signinBody, request.body, 'passkey sign-in');
    const done = await finishPasskeySignIn(deps(), readWebauthnChallenge(request), body.response, { ip: request.ip, userAgent: userAgent(request) });
    clearWebauthnChallenge(reply);
    if (!done.ok) throw new OAuthError('invalid_request', done.message);
    // The same session start as a password sign-in; amr says how.
    await signIn(request, reply, done.value.user.id, done.value.amr);
    return reply.header('cache-control', 'no-store').send({ redirect: safeReturnTo(done.value.returnTo) });
  });

  const page = { config: { page: true }, preHandler: requireUser };

  app.post(PASSKEY_PATHS.rename, page, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.rename);
    const form = parse(renameForm, request.body, 'form');
    const done = await renameOwnPasskey(app.deps, actorOf(request), form.id, form.name);
    if (!done.ok) throw new OAuthError('invalid_request', done.message, { page: { back: { href: SECURITY_PATH, label: 'Back to account security' } } });
    return reply.redirect(`${SECURITY_PATH}#passkeys`, 303);
  });

  app.post(PASSKEY_PATHS.remove, page, async (request, reply) => {
    await checkCsrf(request, PASSKEY_PATHS.remove);
    const form = parse(removeForm, request.body, 'form');
    const done = await removeOwnPasskey(app.deps, actorOf(request), form.id);
    if (!done.ok) throw new OAuthError('not_found', done.message, { status: 404, page: { back: { href: SECURITY_PATH, label: 'Back to account security' } } });
    return reply.redirect(`${SECURITY_PATH}#passkeys`, 303);
  });
};

/** The JSON steps for a signed-in user: a 401 JSON error, not a redirect to the login page, when signed out. */
async function requireJsonUser(request: FastifyRequest): Promise<void> {
  if (!(await loadSession(request))) throw new OAuthError('unauthorized', 'Sign in first');
}

/** What views/partials/passkeys.eta shows on /account/security. */
export async function passkeySection(request: FastifyRequest, reply: FastifyReply) {
  const { config, db } = request.server.deps;
  const rp = relyingParty(config.issuer, config.siteName);
  const s = request.latchSession!;
  const csrf: Record<string, string> = {};
  for (const [name, path] of Object.entries(PASSKEY_PATHS)) if (!name.startsWith('signin')) csrf[name] = await csrfToken(request, reply, path);
  return {
    available: rp !== null,
    needsHostName: NEEDS_HOST_NAME,
    list: await listPasskeys(db, s.userId),
    maxName: MAX_PASSKEY_NAME,
    paths: PASSKEY_PATHS,
    csrf,
  };
}

/** What views/partials/passkey-signin.eta shows on the login page: nothing when the issuer is an IP address. */
export async function passkeySignInButton(request: FastifyRequest, reply: FastifyReply) {
  const { config } = request.server.deps;
  if (!relyingParty(config.issuer, config.siteName)) return null;
  return {
    paths: PASSKEY_PATHS,
    csrf: { signinOptions: await csrfToken(request, reply, PASSKEY_PATHS.signinOptions), signin: await csrfToken(request, reply, PASSKEY_PATHS.signin) },
  };
}
