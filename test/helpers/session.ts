import { randomBytes } from 'node:crypto';
import { addSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import { insertSession } from '../../src/store/sessions.js';
import { SESSION_TTL_SECONDS } from '../../src/accounts/sessions.js';
import { csrfTokenFor } from '../../src/web/csrf.js';
import { SESSION_COOKIE } from '../../src/web/session.js';
import type { TestContext } from './app.js';

export interface SignedIn {
  /** The Cookie header value of a live session. */
  cookie: string;
  /** The CSRF token a page would have rendered for a form posting to `path`. */
  csrf(path: string): string;
}

/** A live session for `userId`, made directly in the store (tests of the login page itself sign in through it). */
export async function signedInAs(t: Pick<TestContext, 'app' | 'db' | 'clock'>, userId: string): Promise<SignedIn> {
  const id = newSecret(PREFIX.session);
  const csrfSecret = randomBytes(32).toString('base64url');
  const now = t.clock.now();
  await insertSession(t.db, {
    id_digest: digest(id),
    user_id: userId,
    csrf_secret: csrfSecret,
    created_at: now,
    expires_at: addSeconds(now, SESSION_TTL_SECONDS),
  });
  return {
    cookie: `${SESSION_COOKIE}=${t.app.signCookie(id)}`,
    csrf: (path: string) => csrfTokenFor(csrfSecret, path),
  };
}
