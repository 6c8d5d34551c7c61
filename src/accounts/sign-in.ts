import type { User } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { verifyPassword } from '../crypto/passwords.js';
import type { Executor } from '../store/executor.js';
import { findUserByUsername } from '../store/users.js';
import { checkThrottle, recordLoginFailure, recordLoginSuccess } from './throttle.js';

/**
 * Checks a username and password under the sign-in throttle: the user, or null
 * for any mismatch (without saying which part was wrong). Throws the throttle's
 * 429 OAuthError while the account or address is blocked, before any password
 * is checked, so a blocked guesser learns nothing. Shared by the login page and
 * the password grant.
 */
export async function verifySignIn(
  db: Executor,
  clock: Clock,
  attempt: { username: string; password: string; ip: string },
): Promise<User | null> {
  await checkThrottle(db, clock, attempt);
  const user = attempt.username.length <= 256 ? await findUserByUsername(db, attempt.username) : undefined;
  // An unknown user costs the same argon2 verification as a wrong password.
  const ok = await verifyPassword(user?.password_hash, attempt.password);
  if (!user || !ok) {
    await recordLoginFailure(db, clock, attempt);
    return null;
  }
  await recordLoginSuccess(db, attempt);
  return user;
}
