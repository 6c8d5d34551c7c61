import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  deleteUser,
  disableUser,
  enableUser,
  LastAdminError,
  listUsers,
  resetSecondFactors,
  setAdministrator,
  userOverview,
  type UserChange,
  type UserEndDeps,
} from '../manage/users/admin.js';
import type { Acting } from '../manage/actor.js';
import { ValidationError } from '../manage/validation.js';
import { USERNAME } from '../manage/users.js';
import { OAuthError } from '../oauth/errors.js';
import { sendResetLink, type RecoveryDeps } from '../accounts/password-reset.js';
import { actingUser } from '../web/audit-context.js';
import { consolePage } from '../web/console-page.js';
import { checkCsrf, csrfToken } from '../web/csrf.js';
import { requireAdmin } from '../web/guards.js';

export const USERS_PATH = '/admin/users';
const PAGE_SIZE = 50;
/** The user page's "Send a reset link" (src/accounts/password-reset.ts). */
const RESET_LINK = 'reset-link';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The actions of a user's page, by the last part of their path, with the
 * sentence shown once done. `confirm`: the form must carry a ticked box
 * (destructive ones), or the username typed again (delete, on its own page).
 */
const ACTIONS = {
  disable: { run: disableUser, done: 'Disabled: every session ended, every token revoked, every consent forgotten.', confirm: true },
  enable: { run: enableUser, done: 'Enabled: the user may sign in again.', confirm: false },
  'grant-admin': { run: (d, a, id) => setAdministrator(d, a, id, true), done: 'The user is now an administrator.', confirm: false },
  'revoke-admin': { run: (d, a, id) => setAdministrator(d, a, id, false), done: 'The user is no longer an administrator.', confirm: false },
  'reset-second-factors': { run: resetSecondFactors, done: 'Two-step sign-in removed: the user signs in with their password and may enrol again.', confirm: true },
} satisfies Record<string, { run: (deps: UserEndDeps, acting: Acting, ref: string) => Promise<UserChange>; done: string; confirm: boolean }>;
type ActionName = keyof typeof ACTIONS;
const isAction = (name: string): name is ActionName => Object.hasOwn(ACTIONS, name);

const actionForm = z.object({ _csrf: z.string().optional(), confirm: z.string().max(300).optional() });

/** A query parameter given at most once, at most 300 characters; else a message for the page. */
function single(query: Record<string, unknown>, name: string, problems: Record<string, string>): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value.length <= 300) return value;
  problems[name] = 'give it once, at most 300 characters';
  return undefined;
}

/** `/admin/users`: find users, and on each user's page act on them. Administrators only; rules in src/manage/users/admin.ts. */
export const userAdminRoutes: FastifyPluginAsync = async (app) => {
  const opts = { preHandler: requireAdmin, config: { page: true } };
  const { deps } = app;
  const endDeps: UserEndDeps = { ...deps, onSessionsEnded: app.backchannelLogout.notify };

  app.get(USERS_PATH, opts, async (request, reply) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const problems: Record<string, string> = {};
    const q = single(query, 'q', problems) ?? '';
    const after = single(query, 'after', problems);
    const deletedName = single(query, 'deleted', problems);
    // Shown only when it could be a username: the page must not echo arbitrary text.
    const deleted = deletedName && USERNAME.test(deletedName) ? deletedName : null;
    delete problems.deleted;
    const view = { title: 'Users', q, deleted, users: [] as unknown[], next: null as string | null, first: null as string | null };
    try {
      if (Object.keys(problems).length > 0) throw new ValidationError(problems);
      const page = await listUsers(deps, actingUser(request).actor, { q, after }, PAGE_SIZE);
      const withQ: Record<string, string> = q ? { q } : {};
      const next = page.next ? `${USERS_PATH}?${new URLSearchParams({ ...withQ, after: page.next })}` : null;
      const first = after ? `${USERS_PATH}${q ? `?${new URLSearchParams(withQ)}` : ''}` : null;
      return consolePage(request, reply, 'admin/users', { ...view, users: page.users, next, first });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const error = Object.entries(err.fields).map(([f, m]) => `${f === 'q' ? 'search' : f === 'after' ? 'page' : f}: ${m}`).join('; ');
      return consolePage(request, reply, 'admin/users', { ...view, error }, 400);
    }
  });

  /** A user's page; `error` and `status` when an action was refused. */
  async function renderUser(request: FastifyRequest, reply: FastifyReply, id: string, extra: { error?: string; done?: string; resetLink?: string } = {}, status = 200) {
    const overview = await userOverview(deps, actingUser(request).actor, id);
    const csrf: Record<string, string> = {};
    for (const name of [...Object.keys(ACTIONS), 'delete', RESET_LINK]) {
      const path = `${USERS_PATH}/${overview.user.id}/${name}`;
      csrf[name] = await csrfToken(request, reply, path);
    }
    return consolePage(request, reply, 'admin/user', { title: overview.user.username, ...overview, csrf, base: `${USERS_PATH}/${overview.user.id}`, self: request.latchSession!.userId === overview.user.id, ...extra }, status);
  }

  const userId = (request: FastifyRequest): string => {
    const id = (request.params as { id?: string }).id ?? '';
    if (!UUID.test(id)) throw new OAuthError('not_found', 'No such user', { status: 404 });
    return id.toLowerCase();
  };

  app.get(`${USERS_PATH}/:id`, opts, async (request, reply) => {
    const done = (request.query as Record<string, unknown>).done;
    return renderUser(request, reply, userId(request), { done: typeof done === 'string' && isAction(done) ? ACTIONS[done].done : undefined });
  });

  // Deleting asks first, on a page of its own: the username typed again.
  app.get(`${USERS_PATH}/:id/delete`, opts, async (request, reply) => renderDelete(request, reply, userId(request)));

  async function renderDelete(request: FastifyRequest, reply: FastifyReply, id: string, error?: string, status = 200) {
    const { user, apps, sessions, liveTokens } = await userOverview(deps, actingUser(request).actor, id);
    const action = `${USERS_PATH}/${user.id}/delete`;
    return consolePage(request, reply, 'admin/user-delete', { title: `Delete ${user.username}`, user, apps, sessions, liveTokens, action, csrf: await csrfToken(request, reply, action), error }, status);
  }

  app.post(`${USERS_PATH}/:id/delete`, opts, async (request, reply) => {
    await checkCsrf(request);
    const id = userId(request);
    const form = actionForm.safeParse(request.body ?? {});
    if (!form.success) throw new OAuthError('invalid_request', 'The form was malformed; reload the page and try again');
    const { user } = await userOverview(deps, actingUser(request).actor, id);
    if ((form.data.confirm ?? '').trim().toLowerCase() !== user.username.toLowerCase()) {
      return renderDelete(request, reply, id, 'Type the username to confirm.', 400);
    }
    try {
      const deleted = await deleteUser(endDeps, actingUser(request), id);
      return reply.redirect(`${USERS_PATH}?deleted=${encodeURIComponent(deleted.username)}`, 303);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderDelete(request, reply, id, Object.values(err.fields).join('; '), err instanceof LastAdminError ? 409 : 400);
    }
  });

  // A reset link: mailed when e-mail is on and the user has an address; otherwise shown once, here, to hand over.
  const recovery: RecoveryDeps = { db: deps.db, clock: deps.clock, config: deps.config, log: app.log };
  app.post(`${USERS_PATH}/:id/${RESET_LINK}`, opts, async (request, reply) => {
    await checkCsrf(request);
    const id = userId(request);
    const sent = await sendResetLink(recovery, id, actingUser(request));
    const until = sent.expiresAt.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    if (sent.kind === 'mailed') return renderUser(request, reply, id, { done: `A password-reset link is on its way to ${sent.to} (it works once, until ${until}).` });
    const why = { no_smtp: 'E-mail is off', no_email: 'They have no e-mail address', not_queued: 'The mail could not be queued' }[sent.why];
    return renderUser(request, reply, id, { done: `${why}: give them this link yourself (it works once, until ${until}).`, resetLink: sent.url });
  });

  app.post(`${USERS_PATH}/:id/:action`, opts, async (request, reply) => {
    await checkCsrf(request);
    const id = userId(request);
    const name = (request.params as { action: string }).action;
    if (!isAction(name)) throw new OAuthError('not_found', 'No such page', { status: 404 });
    const form = actionForm.safeParse(request.body ?? {});
    if (!form.success) throw new OAuthError('invalid_request', 'The form was malformed; reload the page and try again');
    const action = ACTIONS[name];
    if (action.confirm && form.data.confirm !== 'yes') {
      return renderUser(request, reply, id, { error: 'Tick the box to confirm.' }, 400);
    }
    try {
      await action.run(endDeps, actingUser(request), id);
      return reply.redirect(`${USERS_PATH}/${id}?done=${name}`, 303);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderUser(request, reply, id, { error: Object.values(err.fields).join('; ') }, err instanceof LastAdminError ? 409 : 400);
    }
  });
};
