import type { User } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { verifyPassword } from '../crypto/passwords.js';
import { metrics } from '../metrics.js';
import type { Executor } from '../store/executor.js';
import { findUserForSignIn, type SignInUser } from '../store/users.js';
import { countedAddress } from './address.js';
import { passwordChecks } from './hashing-limiter.js';
import { admitSignIn, forgiveSignIn } from './throttle.js';
import { recordAudit } from '../audit/record.js';
import { OAuthError } from '../oauth/errors.js';

export interface SignInAttempt {
  username: string;
  password: string;
  ip: string;
  userAgent?: string | null;
  /** The app a password grant signs in to (its client_id); none on the login page. */
  via?: string;
  /**
   * Whether the caller can ask for a second factor next (the login page can;
   * the password grant cannot, so an account with one is refused there).
   */
  secondStep?: boolean;
}

export interface SignInResult {
  user: User;
  /** The password was right and the account has a second factor: no session until it is given (second-step.ts). */
  needsSecondFactor: boolean;
}

export const SECOND_FACTOR_REQUIRED = 'The password grant is not available for this account (two-step sign-in is on)';

export type SignInAudit = Pick<SignInAttempt, 'username' | 'ip' | 'userAgent' | 'via'>;

/** Records a sign-in's outcome: success only once every factor has passed. */
export function auditSignIn(db: Executor, clock: Clock, attempt: SignInAudit, user: User | { id: string; username: string } | null, details?: Record<string, unknown>, outcome: 'success' | 'failure' = user ? 'success' : 'failure') {
  return recordAudit(db, {
    actor: user && outcome === 'success' ? { kind: 'user', id: user.id, name: user.username } : { kind: 'anonymous' },
    address: attempt.ip,
    userAgent: attempt.userAgent ?? null,
    at: clock.now(),
    action: outcome === 'success' ? 'signin.success' : 'signin.failure',
    outcome,
    user,
    // The name tried, cut short: the log must not grow by what a guesser types.
    target: attempt.username.trim().slice(0, 64),
    details: { ...details, ...(attempt.via ? { via: attempt.via } : {}) },
  });
}

/**
 * Checks a username and password: the user, or null for any mismatch (without
 * saying which part was wrong). The one way in by password, for the login page
 * and the password grant alike. The attempt takes its address's share of this
 * process's password hashing (hashing-limiter.ts), and a hashing slot for the
 * argon2 call alone, and is counted by the throttle before the password is
 * checked; both refuse with an OAuthError (429, or 503 when the whole process
 * is saturated) and Retry-After, so a refused guesser learns nothing and costs
 * no hashing.
 *
 * An account with a second factor is not signed in by its password alone:
 * with `secondStep` the caller is told to ask for it (and records the success
 * once it passes); without, the attempt is refused with invalid_grant.
 */
export async function verifySignIn(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<SignInResult | null> {
  let user: SignInUser | null;
  try {
    user = await checkPassword(db, clock, attempt);
  } catch (err) {
    if (err instanceof OAuthError) await auditSignIn(db, clock, attempt, null, { reason: 'throttled' });
    throw err;
  }
  if (!user) {
    await auditSignIn(db, clock, attempt, null);
    return null;
  }
  // A disabled account is refused like a wrong password: the page says nothing a guesser could use.
  if (user.disabled_at) {
    await auditSignIn(db, clock, attempt, user, { reason: 'disabled' }, 'failure');
    return null;
  }
  if (user.has_second_factor) {
    if (attempt.secondStep) return { user, needsSecondFactor: true };
    await auditSignIn(db, clock, attempt, user, { reason: 'second_factor_required' }, 'failure');
    throw new OAuthError('invalid_grant', SECOND_FACTOR_REQUIRED);
  }
  await auditSignIn(db, clock, attempt, user);
  return { user, needsSecondFactor: false };
}

/** The password check alone (throttled, counted, no audit): also how a signed-in user proves it is them. */
export function checkPassword(db: Executor, clock: Clock, attempt: Pick<SignInAttempt, 'username' | 'password' | 'ip'>): Promise<SignInUser | null> {
  return passwordChecks.run(countedAddress(attempt.ip), async () => {
    await admitSignIn(db, clock, attempt);
    const user = attempt.username.length <= 256 ? await findUserForSignIn(db, attempt.username) : undefined;
    metrics.passwordVerifications.inc();
    // An unknown user costs the same argon2 verification as a wrong password.
    const ok = await passwordChecks.hash(() => verifyPassword(user?.password_hash, attempt.password));
    if (!user || !ok) return null;
    await forgiveSignIn(db, clock, attempt);
    return user;
  });
}
