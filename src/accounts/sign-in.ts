import type { User } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { verifyPassword } from '../crypto/passwords.js';
import { metrics } from '../metrics.js';
import type { Executor } from '../store/executor.js';
import { findUserByUsername } from '../store/users.js';
import { countedAddress } from './address.js';
import { passwordChecks } from './hashing-limiter.js';
import { admitSignIn, forgiveSignIn } from './throttle.js';

/**
 * Checks a username and password: the user, or null for any mismatch (without
 * saying which part was wrong). The one way in by password, for the login page
 * and the password grant alike. The attempt takes a share of this process's
 * password hashing (hashing-limiter.ts) and is counted by the throttle before
 * the password is checked; both refuse with an OAuthError (429, or 503 when
 * the whole process is saturated) and Retry-After, so a refused guesser learns
 * nothing and costs no hashing.
 */
export async function verifySignIn(
  db: Executor,
  clock: Clock,
  attempt: { username: string; password: string; ip: string },
): Promise<User | null> {
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
