import type { AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { hashPassword } from '../crypto/passwords.js';
import { passwordProblem } from '../manage/users.js';
import type { Executor } from '../store/executor.js';
import { deleteTotp } from '../store/totp.js';
import { updatePasswordHash } from '../store/users.js';
import { checkPassword } from './sign-in.js';
import { acceptTotpCode, issueRecoveryCodes, parseCode, type TotpDeps } from './totp.js';

/** What a signed-in user does on /account/security: who they are and where from, for the audit log and the throttle. */
export interface Actor {
  user: { id: string; username: string };
  audit: AuditContext;
}

export type SecurityOutcome<T = undefined> = { ok: true; value: T } | { ok: false; field: string; message: string };

const fail = (field: string, message: string) => ({ ok: false as const, field, message });
const WRONG_PASSWORD = 'That is not your current password.';

/**
 * The password again, before a change that weakens or takes over the account:
 * counted by the sign-in throttle like any password guess (a stolen session
 * must not become a password oracle).
 */
export async function provesPassword(deps: Pick<TotpDeps, 'db' | 'clock'>, actor: Actor, password: string): Promise<boolean> {
  if (password === '') return false;
  const user = await checkPassword(deps.db, deps.clock, { username: actor.user.username, password, ip: actor.audit.address ?? '' });
  return user?.id === actor.user.id;
}

const audit = (db: Executor, deps: Pick<TotpDeps, 'clock'>, actor: Actor, action: 'mfa.enable' | 'mfa.disable' | 'password.change', outcome: 'success' | 'failure', details?: Record<string, unknown>) =>
  recordAudit(db, { ...actor.audit, at: deps.clock.now(), action, outcome, user: actor.user, details });

/** Confirms a pending enrolment with a code from the app: TOTP is on, and ten recovery codes are returned to be shown once. */
export async function confirmEnrolment(deps: TotpDeps, actor: Actor, input: string): Promise<SecurityOutcome<string[]>> {
  const entered = parseCode(input, false);
  if (entered.kind !== 'totp') return fail('code', entered.kind === 'malformed' ? entered.message : 'Enter the code from your app.');
  if (!(await acceptTotpCode(deps, actor.user.id, entered.code, true))) {
    await audit(deps.db, deps, actor, 'mfa.enable', 'failure', { reason: 'wrong_code' });
    return fail('code', 'That code is not right. Check the time on your phone and try the current code.');
  }
  const codes = await issueRecoveryCodes(deps.db, actor.user.id);
  await audit(deps.db, deps, actor, 'mfa.enable', 'success', { method: 'totp' });
  return { ok: true, value: codes };
}

/** Turns TOTP off (and drops the recovery codes); the password is required. */
export async function disableTotp(deps: TotpDeps, actor: Actor, password: string): Promise<SecurityOutcome> {
  if (!(await provesPassword(deps, actor, password))) {
    await audit(deps.db, deps, actor, 'mfa.disable', 'failure', { reason: 'wrong_password' });
    return fail('password', WRONG_PASSWORD);
  }
  if (await deleteTotp(deps.db, actor.user.id)) await audit(deps.db, deps, actor, 'mfa.disable', 'success', { method: 'totp' });
  return { ok: true, value: undefined };
}

/** A new password, by the sign-up rule, after the current one. Other sessions are left alone. */
export async function changePassword(deps: Pick<TotpDeps, 'db' | 'clock'>, actor: Actor, current: string, next: string): Promise<SecurityOutcome> {
  if (!(await provesPassword(deps, actor, current))) {
    await audit(deps.db, deps, actor, 'password.change', 'failure', { reason: 'wrong_password' });
    return fail('current_password', WRONG_PASSWORD);
  }
  const problem = next === '' ? 'must not be empty' : passwordProblem(next, actor.user.username);
  if (problem) return fail('new_password', `The new password ${problem}.`);
  await updatePasswordHash(deps.db, actor.user.id, await hashPassword(next));
  await audit(deps.db, deps, actor, 'password.change', 'success');
  return { ok: true, value: undefined };
}
