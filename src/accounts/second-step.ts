import { randomBytes } from 'node:crypto';
import { addSeconds } from '../clock.js';
import { digest } from '../crypto/secrets.js';
import { forgiveAttempt } from '../store/login-attempts.js';
import { countUnusedRecoveryCodes, findPendingSignin, insertPendingSignin, takePendingSignin } from '../store/totp.js';
import { auditSignIn, type SignInAudit } from './sign-in.js';
import { admitSecondStep } from './throttle.js';
import { acceptTotpCode, parseCode, redeemRecoveryCode, type TotpDeps } from './totp.js';

/** How long the second step may take after a correct password. */
export const PENDING_SIGNIN_SECONDS = 5 * 60;

/** A correct password for an account with a second factor: a short-lived record, not a session. The id goes in a cookie. */
export async function beginSecondStep(deps: Pick<TotpDeps, 'db' | 'clock'>, userId: string, returnTo: string): Promise<string> {
  const id = randomBytes(32).toString('base64url');
  const now = deps.clock.now();
  await insertPendingSignin(deps.db, { idDigest: digest(id), userId, returnTo, now, expiresAt: addSeconds(now, PENDING_SIGNIN_SECONDS) });
  return id;
}

/** The half-done sign-in `id` names, while it lasts. */
export function findSecondStep(deps: Pick<TotpDeps, 'db' | 'clock'>, id: string) {
  return findPendingSignin(deps.db, digest(id), deps.clock.now());
}

export type SecondStepOutcome =
  | { ok: true; user: { id: string; username: string }; returnTo: string }
  | { ok: false; reason: 'expired' }
  | { ok: false; reason: 'malformed' | 'wrong'; message: string };

/**
 * Checks the second step's code (a TOTP code, or a recovery code once) for
 * the half-done sign-in `id`. Counted before it is checked; a 429 OAuthError
 * past the allowance. On success the half-done sign-in is gone and the caller
 * starts the session; the success is recorded here, the first time it is true.
 */
export async function completeSecondStep(deps: TotpDeps, id: string, input: string, audit: Omit<SignInAudit, 'username'>): Promise<SecondStepOutcome> {
  const pending = await findSecondStep(deps, id);
  if (!pending) return { ok: false, reason: 'expired' };
  const user = { id: pending.user_id, username: pending.username };
  const entered = parseCode(input, true);
  if (entered.kind === 'malformed') return { ok: false, reason: 'malformed', message: entered.message };
  const keys = { pending: `2fa-pending:${pending.id_digest}`, account: `2fa-user:${user.id}` };
  const attempt = { ...audit, username: user.username };
  try {
    await admitSecondStep(deps.db, deps.clock, keys);
  } catch (err) {
    await auditSignIn(deps.db, deps.clock, attempt, user, { reason: 'throttled', step: 'second_factor' }, 'failure');
    throw err;
  }
  const ok = entered.kind === 'totp' ? await acceptTotpCode(deps, user.id, entered.code) : await redeemRecoveryCode(deps, user.id, entered.code);
  if (!ok) {
    await auditSignIn(deps.db, deps.clock, attempt, user, { reason: 'wrong_code', step: 'second_factor', method: entered.kind }, 'failure');
    return { ok: false, reason: 'wrong', message: 'That code is not right, or was used already.' };
  }
  // Taking the half-done sign-in is the last check: of two good codes sent at once, one signs in.
  if (!(await takePendingSignin(deps.db, pending.id_digest, deps.clock.now()))) return { ok: false, reason: 'expired' };
  await forgiveAttempt(deps.db, deps.clock.now(), { clear: [keys.pending], uncount: [keys.account] });
  const details: Record<string, unknown> = { second_factor: entered.kind };
  if (entered.kind === 'recovery') details.backups_left = await countUnusedRecoveryCodes(deps.db, user.id);
  await auditSignIn(deps.db, deps.clock, attempt, user, details);
  return { ok: true, user, returnTo: pending.return_to };
}
