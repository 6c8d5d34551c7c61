import { OPERATOR } from '../manage/actor.js';
import {
  deleteUser,
  disableUser,
  enableUser,
  listUsers,
  overviewJson,
  resetSecondFactors,
  updateUser,
  userJson,
  userOverview,
  type UserSummary,
} from '../manage/users/admin.js';
import { resolveKeySecret } from '../cookie-secret.js';
import { BackchannelLogout } from '../oidc/backchannel.js';
import type { UserEndDeps } from '../manage/users/admin.js';
import type { Command } from './commands.js';
import type { CliContext } from './context.js';
import { CliError } from './io.js';

/** `latch user …` administration: the same management layer (src/manage/users/admin.ts) as /admin/users. */

const str = (ctx: CliContext, name: string): string | undefined => ctx.values[name] as string | undefined;

const line = (u: UserSummary) =>
  `${u.username.padEnd(20)}  ${(u.email ?? '-').padEnd(28)}  ${u.is_admin ? 'admin' : '     '}  ${u.disabled_at ? 'disabled' : 'active  '}  ${u.id}`;

/**
 * Runs an action that ends a user's sessions, then waits for the back-channel
 * logout notices it sends (the apps those sessions signed in to) before the
 * command exits; a failed delivery is one line on stderr, never the token.
 */
async function endingSessions<T>(ctx: CliContext, run: (deps: UserEndDeps) => Promise<T>): Promise<T> {
  const log = { warn: (obj: object, msg: string) => ctx.io.stderr.write(`latch: ${msg} ${JSON.stringify(obj)}\n`) };
  const notifier = BackchannelLogout.forManage({ db: ctx.db, clock: ctx.clock, config: ctx.config, keySecret: resolveKeySecret(ctx.config), log });
  const result = await run({ db: ctx.db, clock: ctx.clock, onSessionsEnded: notifier.notify });
  await notifier.idle();
  return result;
}

/** --X / --no-X: true, false, or undefined for "leave as it is". */
function flag(ctx: CliContext, name: string): boolean | undefined {
  const on = ctx.values[name] === true;
  const off = ctx.values[`no-${name}`] === true;
  if (on && off) throw new CliError(`give --${name} or --no-${name}, not both`, 2);
  return on ? true : off ? false : undefined;
}

/** A one-user action: USER is a username or a user id. */
function action(summary: string, run: (ctx: CliContext, ref: string) => Promise<{ user: UserSummary; changed: boolean }>, done: string, already: string): Command {
  return {
    usage: 'USER',
    summary: `${summary} USER is a username or a user id.`,
    positionals: 1,
    options: {},
    async run(ctx) {
      const { user, changed } = await run(ctx, ctx.positionals[0]!);
      ctx.print({ ...userJson(user), changed }, `${user.username}: ${changed ? done : already}`);
    },
  };
}

export const USER_COMMANDS: Record<string, Command> = {
  'user list': {
    usage: '[--query TEXT] [--limit N] [--after CURSOR]',
    summary:
      'Lists users by username (100 unless --limit, at most 1000); --query keeps those whose username or e-mail contains TEXT (any case), or whose id it is. ' +
      '--after continues from the cursor a previous page printed.',
    options: { query: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } },
    async run(ctx) {
      const page = await listUsers(ctx, OPERATOR.actor, { q: str(ctx, 'query'), limit: str(ctx, 'limit'), after: str(ctx, 'after') }, 100);
      ctx.print(
        { users: page.users.map(userJson), next: page.next },
        page.users.length === 0 ? 'no users' : [...page.users.map(line), ...(page.next ? [`(more: --after ${page.next})`] : [])].join('\n'),
      );
    },
  },

  'user show': {
    usage: 'USER',
    summary: "Shows a user: administrator or not, disabled or not, last sign-in, second factors (never their secrets), live sessions and authorized apps. USER is a username or a user id.",
    positionals: 1,
    options: {},
    async run(ctx) {
      const o = overviewJson(await userOverview(ctx, OPERATOR.actor, ctx.positionals[0]!));
      const when = (s: number) => new Date(s * 1000).toISOString();
      ctx.print(
        o,
        [
          `id:             ${o.id}`,
          `username:       ${o.username}`,
          `email:          ${o.email ?? '-'}${o.email && !o.email_verified ? ' (not verified)' : ''}`,
          `administrator:  ${o.admin ? 'yes' : 'no'}`,
          `status:         ${o.disabled ? `disabled since ${when(o.disabled_at!)}` : 'active'}`,
          `last sign-in:   ${o.last_signin ? `${when(o.last_signin.at)} from ${o.last_signin.address ?? '-'}` : 'none recorded'}`,
          `two-step:       ${o.second_factors.totp ? `TOTP on, ${o.second_factors.recovery_codes} recovery codes left` : 'off'}${o.second_factors.passkeys !== null ? `; ${o.second_factors.passkeys} passkeys` : ''}`,
          `live tokens:    ${o.live_tokens}`,
          `sessions:       ${o.sessions.length === 0 ? 'none' : o.sessions.map((s) => `\n  signed in ${when(s.signed_in_at)} (${s.amr.join('+')}), until ${when(s.expires_at)}`).join('')}`,
          `authorized:     ${o.authorized_apps.length === 0 ? 'no apps' : o.authorized_apps.map((a) => `\n  ${a.client_id}  ${a.name}  (${a.scope})`).join('')}`,
        ].join('\n'),
      );
    },
  },

  'user update': {
    usage: 'USER [--username U] [--email E | --no-email] [--admin | --no-admin]',
    summary: 'Renames a user, changes or removes their e-mail address (a new one is unverified), or grants or takes the administrator right (never from the last administrator).',
    positionals: 1,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      'no-email': { type: 'boolean' },
      admin: { type: 'boolean' },
      'no-admin': { type: 'boolean' },
    },
    async run(ctx) {
      const email = str(ctx, 'email');
      if (email !== undefined && ctx.values['no-email'] === true) throw new CliError('give --email or --no-email, not both', 2);
      const update = { username: str(ctx, 'username'), email: ctx.values['no-email'] === true ? null : email, admin: flag(ctx, 'admin') };
      if (update.username === undefined && update.email === undefined && update.admin === undefined) {
        throw new CliError('nothing to change: give --username, --email, --no-email, --admin or --no-admin', 2);
      }
      const user = await updateUser(ctx, OPERATOR, ctx.positionals[0]!, update);
      ctx.print(userJson(user), line(user));
    },
  },

  'user disable': action(
    'Disables a user at once: no sign-in, every session ended, every token revoked, every consent forgotten.',
    (ctx, ref) => endingSessions(ctx, (deps) => disableUser(deps, OPERATOR, ref)),
    'disabled; sessions ended, tokens revoked',
    'already disabled',
  ),

  'user enable': action('Lets a disabled user sign in again (ended sessions and tokens stay ended).', (ctx, ref) => enableUser(ctx, OPERATOR, ref), 'enabled', 'already enabled'),

  'user reset-second-factors': action(
    'Removes the user\'s TOTP secret and recovery codes (a lost phone): they sign in with their password and may enrol again.',
    (ctx, ref) => resetSecondFactors(ctx, OPERATOR, ref),
    'second factors removed',
    'unchanged',
  ),

  'user delete': {
    usage: 'USER',
    summary: 'Deletes a user with their sessions, tokens, consents and second factors; their audit events stay. Never the last administrator. USER is a username or a user id.',
    positionals: 1,
    options: {},
    async run(ctx) {
      const user = await endingSessions(ctx, (deps) => deleteUser(deps, OPERATOR, ctx.positionals[0]!));
      ctx.print({ id: user.id, username: user.username, deleted: true }, `deleted ${user.username} (${user.id})`);
    },
  },
};
