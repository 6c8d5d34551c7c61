import { epochSeconds } from '../../clock.js';
import { endSessionsOfUser, type SessionEndDeps } from '../../accounts/sessions.js';
import { recordAudit } from '../../audit/record.js';
import type { AuditAction } from '../../audit/events.js';
import { OAuthError } from '../../oauth/errors.js';
import { listAuthorizedApps } from '../../store/consents.js';
import { inTransaction } from '../../store/transaction.js';
import type { Executor } from '../../store/executor.js';
import { findUserByUsername } from '../../store/users.js';
import { deleteTotp } from '../../store/totp.js';
import {
  countLiveTokensOfUser,
  countOtherActiveAdmins,
  deleteUserRow,
  findUserSummary,
  lastSignInOf,
  listSessionsOfUser,
  revokeEverythingOfUser,
  searchUsers,
  secondFactorsOf,
  setAdmin,
  setDisabled,
  updateUserFields,
  type UserSummary,
} from '../../store/user-admin.js';
import { requireAdministrator, type Acting, type Actor, type ManageDeps } from '../actor.js';
import { ValidationError } from '../validation.js';
import { USERNAME } from '../users.js';

export type { UserSummary };

export const DEFAULT_USER_PAGE = 50;
export const MAX_USER_PAGE = 1000;
const MAX_QUERY = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Refused because it would leave nobody able to administer latch: 409 on the pages. */
export class LastAdminError extends ValidationError {
  constructor() {
    super({ user: 'is the last administrator; make another user an administrator first' });
  }
}

/** What the search form and `latch user list` pass: text as typed, every field optional. */
export interface UserListInput {
  q?: string;
  after?: string;
  limit?: string;
}

export interface UserPage {
  users: UserSummary[];
  /** The cursor of the next page; null on the last one. */
  next: string | null;
}

const encodeCursor = (u: Pick<UserSummary, 'username'>) => Buffer.from(u.username.toLowerCase(), 'utf8').toString('base64url');
function decodeCursor(value: string): string | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(value)) return null;
  const name = Buffer.from(value, 'base64url').toString('utf8');
  return name.length > 0 && name.length <= 256 && !/[\x00-\x1f\x7f]/.test(name) ? name : null;
}

/**
 * One page of users whose username or e-mail contains `q` (or whose id is
 * `q`), by username. Every problem is a ValidationError naming the field; the
 * text only ever becomes a bound parameter.
 */
export async function listUsers({ db }: Pick<ManageDeps, 'db'>, actor: Actor, input: UserListInput, defaultLimit = DEFAULT_USER_PAGE): Promise<UserPage> {
  requireAdministrator(actor);
  const problems: Record<string, string> = {};
  const q = input.q?.trim() ?? '';
  if (q.length > MAX_QUERY) problems.q = `must be at most ${MAX_QUERY} characters`;
  else if (/[\x00-\x1f\x7f]/.test(q)) problems.q = 'must be one line of text';
  const after = input.after ? decodeCursor(input.after) : undefined;
  const text = q || undefined;
  if (after === null) problems.after = 'is not a page cursor';
  const limit = input.limit === undefined ? defaultLimit : /^\d{1,4}$/.test(input.limit) ? Number(input.limit) : NaN;
  if (!(limit >= 1 && limit <= MAX_USER_PAGE)) problems.limit = `expected a whole number from 1 to ${MAX_USER_PAGE}`;
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  // One row more than asked tells whether there is a next page.
  const rows = await searchUsers(db, { text, after: after ?? undefined, limit: limit + 1 });
  const users = rows.slice(0, limit);
  return { users, next: rows.length > limit ? encodeCursor(users[users.length - 1]!) : null };
}

/** The user `ref` names: an id, or a username (the command line's usual way); 404 otherwise. */
export async function findManagedUser(db: Executor, actor: Actor, ref: string): Promise<UserSummary> {
  requireAdministrator(actor);
  let user: UserSummary | undefined;
  if (UUID.test(ref)) user = await findUserSummary(db, ref.toLowerCase());
  else if (ref.length <= 256) {
    const byName = await findUserByUsername(db, ref);
    user = byName ? await findUserSummary(db, byName.id) : undefined;
  }
  if (!user) throw new OAuthError('not_found', `no user "${ref.slice(0, 80)}"`, { status: 404 });
  return user;
}

/** Everything an administrator sees about a user: sessions, apps, second factors (not their secrets), last sign-in. */
export async function userOverview({ db, clock }: Pick<ManageDeps, 'db' | 'clock'>, actor: Actor, ref: string) {
  const user = await findManagedUser(db, actor, ref);
  const now = clock.now();
  const [sessions, apps, secondFactors, lastSignIn, liveTokens] = await Promise.all([
    listSessionsOfUser(db, user.id, now),
    listAuthorizedApps(db, user.id),
    secondFactorsOf(db, user.id),
    lastSignInOf(db, user.id),
    countLiveTokensOfUser(db, user.id, now),
  ]);
  return { user, sessions, apps, secondFactors, lastSignIn: lastSignIn ?? null, liveTokens };
}

export type UserOverview = Awaited<ReturnType<typeof userOverview>>;

/** A user as `--json` prints them. */
export const userJson = (u: UserSummary) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  email_verified: u.email_verified,
  admin: u.is_admin,
  disabled: u.disabled_at !== null,
  disabled_at: u.disabled_at ? epochSeconds(u.disabled_at) : null,
  created_at: epochSeconds(u.created_at),
});

export const overviewJson = (o: UserOverview) => ({
  ...userJson(o.user),
  last_signin: o.lastSignIn ? { at: epochSeconds(o.lastSignIn.at), address: o.lastSignIn.address } : null,
  second_factors: { totp: o.secondFactors.totp, recovery_codes: o.secondFactors.recoveryCodes, passkeys: o.secondFactors.passkeys },
  sessions: o.sessions.map((s) => ({ sid: s.sid, signed_in_at: epochSeconds(s.auth_time), expires_at: epochSeconds(s.expires_at), amr: s.amr })),
  authorized_apps: o.apps.map((a) => ({ client_id: a.client_id, name: a.name, scope: a.scope, since: epochSeconds(a.created_at) })),
  live_tokens: o.liveTokens,
});

/** The result of an action: the user after it, and whether anything changed (a repeated action changes nothing and records nothing). */
export interface UserChange {
  user: UserSummary;
  changed: boolean;
}

/**
 * Runs `change` on the user in one transaction with its audit event, after
 * refusing it when it would leave no enabled administrator (`dropsAdmin`).
 */
async function act(
  deps: Pick<ManageDeps, 'db' | 'clock'>,
  acting: Acting,
  ref: string,
  action: AuditAction,
  opts: { dropsAdmin?: (u: UserSummary) => boolean; unchanged?: (u: UserSummary) => boolean },
  change: (trx: Executor, user: UserSummary, now: Date) => Promise<Record<string, unknown> | void>,
): Promise<UserChange> {
  const found = await findManagedUser(deps.db, acting.actor, ref);
  const now = deps.clock.now();
  return inTransaction(deps.db, async (trx) => {
    // Read again inside the transaction, the administrators' rows locked first: concurrent actions queue here.
    const otherAdmins = opts.dropsAdmin ? await countOtherActiveAdmins(trx, found.id) : undefined;
    const user = await findUserSummary(trx, found.id);
    if (!user) throw new OAuthError('not_found', `no user "${ref.slice(0, 80)}"`, { status: 404 });
    if (opts.unchanged?.(user)) return { user, changed: false };
    if (opts.dropsAdmin?.(user) && otherAdmins === 0) throw new LastAdminError();
    const details = (await change(trx, user, now)) ?? {};
    await recordAudit(trx, { ...acting, at: now, action, user, details });
    return { user: (await findUserSummary(trx, user.id)) ?? user, changed: true };
  });
}

/** Ending a user's sessions tells the apps they signed in to (back-channel logout, once committed). */
export type UserEndDeps = Pick<ManageDeps, 'db' | 'clock'> & Pick<SessionEndDeps, 'onSessionsEnded'>;

const activeAdmin = (u: UserSummary) => u.is_admin && u.disabled_at === null;

/**
 * Disables a user at once: no sign-in; every session ended (through
 * endSessionsOfUser, which also tells the apps), every token and token family
 * revoked, every consent forgotten.
 */
export function disableUser(deps: UserEndDeps, acting: Acting, ref: string): Promise<UserChange> {
  return act(deps, acting, ref, 'user.disable', { dropsAdmin: activeAdmin, unchanged: (u) => u.disabled_at !== null }, async (trx, user, now) => {
    await setDisabled(trx, user.id, now);
    const ended = await endSessionsOfUser({ db: trx, onSessionsEnded: deps.onSessionsEnded }, user.id);
    const revoked = await revokeEverythingOfUser(trx, user.id, now);
    return { sessions: ended.length, tokens: revoked.tokens, consents: revoked.consents };
  });
}

/** Lets a disabled user sign in again; what disabling ended stays ended. */
export function enableUser(deps: Pick<ManageDeps, 'db' | 'clock'>, acting: Acting, ref: string): Promise<UserChange> {
  return act(deps, acting, ref, 'user.enable', { unchanged: (u) => u.disabled_at === null }, async (trx, user) => {
    await setDisabled(trx, user.id, null);
  });
}

/** Makes a user an administrator, or takes it away (never from the last enabled administrator). */
export function setAdministrator(deps: Pick<ManageDeps, 'db' | 'clock'>, acting: Acting, ref: string, admin: boolean): Promise<UserChange> {
  return act(
    deps,
    acting,
    ref,
    admin ? 'user.admin_grant' : 'user.admin_revoke',
    { dropsAdmin: admin ? () => false : activeAdmin, unchanged: (u) => u.is_admin === admin },
    async (trx, user) => {
      await setAdmin(trx, user.id, admin);
    },
  );
}

/** Removes the user's TOTP secret and recovery codes, so they sign in with their password alone and may enrol again. */
export function resetSecondFactors(deps: Pick<ManageDeps, 'db' | 'clock'>, acting: Acting, ref: string): Promise<UserChange> {
  return act(deps, acting, ref, 'mfa.reset', {}, async (trx, user) => {
    const hadTotp = await deleteTotp(trx, user.id);
    return { totp: hadTotp };
  });
}

/** Deletes a user: sessions ended first, then tokens, consents, codes and second factors go with the row. */
export async function deleteUser(deps: UserEndDeps, acting: Acting, ref: string): Promise<UserSummary> {
  const { user } = await act(deps, acting, ref, 'user.delete', { dropsAdmin: activeAdmin }, async (trx, user, now) => {
    const ended = await endSessionsOfUser({ db: trx, onSessionsEnded: deps.onSessionsEnded }, user.id);
    const revoked = await revokeEverythingOfUser(trx, user.id, now);
    await deleteUserRow(trx, user.id);
    return { sessions: ended.length, tokens: revoked.tokens, consents: revoked.consents };
  });
  return user;
}

export interface UserUpdate {
  username?: string;
  /** null removes the address. */
  email?: string | null;
  admin?: boolean;
}

/** Changes a user's name, address and administrator right; one event for the fields, one for the right. */
export async function updateUser(deps: Pick<ManageDeps, 'db' | 'clock'>, acting: Acting, ref: string, update: UserUpdate): Promise<UserSummary> {
  const problems: Record<string, string> = {};
  if (update.username !== undefined && !USERNAME.test(update.username)) {
    problems.username = 'must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit';
  }
  if (update.email && !EMAIL.test(update.email)) problems.email = 'is not an email address';
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  const fields = { username: update.username, email: update.email };
  const changesFields = fields.username !== undefined || fields.email !== undefined;
  return inTransaction(deps.db, async (trx) => {
    const tx = { ...deps, db: trx } as Pick<ManageDeps, 'db' | 'clock'>;
    let user = await findManagedUser(trx, acting.actor, ref);
    if (changesFields) {
      const changed = Object.keys(fields).filter((k) => fields[k as keyof typeof fields] !== undefined);
      ({ user } = await act(tx, acting, user.id, 'user.update', {}, async (t, u) => {
        const updated = await updateUserFields(t, u.id, fields);
        if (!updated) throw new ValidationError({ username: 'is already taken' });
        return { changed, ...(fields.username !== undefined && fields.username !== u.username ? { from: u.username } : {}) };
      }));
    }
    if (update.admin !== undefined) ({ user } = await setAdministrator(tx, acting, user.id, update.admin));
    return user;
  });
}
