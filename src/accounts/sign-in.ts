import type { User } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { verifyPassword } from '../crypto/passwords.js';
import { metrics } from '../metrics.js';
import type { Executor } from '../store/executor.js';
import { findUserByUsername } from '../store/users.js';
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
}

/**
 * Checks a username and password: the user, or null for any mismatch (without
 * saying which part was wrong). The one way in by password, for the login page
 * and the password grant alike. The attempt takes a share of this process's
 * password hashing (hashing-limiter.ts) and is counted by the throttle before
 * the password is checked; both refuse with an OAuthError (429, or 503 when
 * the whole process is saturated) and Retry-After, so a refused guesser learns
 * nothing and costs no hashing.
 */
export async function verifySignIn(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<User | null> {
  const audit = (user: User | null, details?: Record<string, unknown>) =>
    recordAudit(db, {
      actor: user ? { kind: 'user', id: user.id, name: user.username } : { kind: 'anonymous' },
      address: attempt.ip,
      userAgent: attempt.userAgent ?? null,
      at: clock.now(),
      action: user ? 'signin.success' : 'signin.failure',
      outcome: user ? 'success' : 'failure',
      user,
      // The name tried, cut short: the log must not grow by what a guesser types.
      target: attempt.username.trim().slice(0, 64),
      details: { ...details, ...(attempt.via ? { via: attempt.via } : {}) },
    });
  let user: User | null;
  try {
    user = await checkPassword(db, clock, attempt);
  } catch (err) {
    if (err instanceof OAuthError) await audit(null, { reason: 'throttled' });
    throw err;
  }
  await audit(user);
  return user;
}

function checkPassword(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<User | null> {
  return passwordChecks.run(countedAddress(attempt.ip), async () => {
    await admitSignIn(db, clock, attempt);
    const user = attempt.username.length <= 256 ? await findUserByUsername(db, attempt.username) : undefined;
    metrics.passwordVerifications.inc();
    // An unknown user costs the same argon2 verification as a wrong password.
    const ok = await verifyPassword(user?.password_hash, attempt.password);
    if (!user || !ok) return null;
    await forgiveSignIn(db, clock, attempt);
    return user;
  });
}
