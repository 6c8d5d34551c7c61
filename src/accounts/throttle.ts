import type { Clock } from '../clock.js';
import { addSeconds } from '../clock.js';
import type { Executor } from '../store/executor.js';
import { clearAttempts, findAttempts, recordFailure, setBlockedUntil } from '../store/login-attempts.js';
import { OAuthError } from './errors.js';
import { metrics } from '../metrics.js';
import type { SignInThrottle } from './grants/types.js';

/**
 * Failed sign-ins are counted per account and per client address within a
 * window; past a free allowance each further failure blocks that key for twice
 * as long as the one before, up to a cap. The counters live in the database, so
 * every latch process sees the same ones. The per-address allowance is larger:
 * many people may share one address.
 */
export const THROTTLE_POLICY = {
  windowSeconds: 15 * 60,
  accountFreeFailures: 5,
  addressFreeFailures: 20,
  firstBlockSeconds: 30,
  maxBlockSeconds: 15 * 60,
} as const;

export interface SignInAttempt {
  username: string;
  ip: string;
}

/** Long usernames are refused elsewhere; here they must not grow keys without bound. */
const accountKey = (username: string) => `user:${username.trim().toLowerCase().slice(0, 256)}`;
const addressKey = (ip: string) => `ip:${ip}`;

/** Refuses with 429 and Retry-After while the account or the address is blocked. */
export async function checkThrottle(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<void> {
  const now = clock.now();
  const rows = await findAttempts(db, [accountKey(attempt.username), addressKey(attempt.ip)]);
  let wait = 0;
  for (const row of rows) {
    if (row.blocked_until && row.blocked_until > now) {
      wait = Math.max(wait, Math.ceil((row.blocked_until.getTime() - now.getTime()) / 1000));
    }
  }
  if (wait > 0) {
    metrics.loginThrottled.inc();
    throw new OAuthError('rate_limited', `Too many failed sign-in attempts; try again in ${wait} seconds`, {
      status: 429,
      headers: { 'retry-after': String(wait) },
    });
  }
}

/** Counts a failure against the account and the address, blocking either once past its allowance. */
export async function recordLoginFailure(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<void> {
  const now = clock.now();
  const windowStart = addSeconds(now, -THROTTLE_POLICY.windowSeconds);
  const keys: Array<[string, number]> = [
    [accountKey(attempt.username), THROTTLE_POLICY.accountFreeFailures],
    [addressKey(attempt.ip), THROTTLE_POLICY.addressFreeFailures],
  ];
  for (const [key, free] of keys) {
    const { failures } = await recordFailure(db, key, now, windowStart);
    if (failures > free) {
      const seconds = Math.min(THROTTLE_POLICY.maxBlockSeconds, THROTTLE_POLICY.firstBlockSeconds * 2 ** Math.min(20, failures - free - 1));
      await setBlockedUntil(db, key, addSeconds(now, seconds));
    }
  }
}

/**
 * A success clears the account's counter. The address keeps its own: one valid
 * account must not let an address go on guessing at others.
 */
export async function recordLoginSuccess(db: Executor, attempt: Pick<SignInAttempt, 'username'>): Promise<void> {
  await clearAttempts(db, accountKey(attempt.username));
}

/** The throttle as the token endpoint's password grant consumes it (GrantContext.throttle). */
export function signInThrottle(db: Executor, clock: Clock): SignInThrottle {
  return {
    check: (username, ip) => checkThrottle(db, clock, { username, ip }),
    failure: (username, ip) => recordLoginFailure(db, clock, { username, ip }),
    success: (username) => recordLoginSuccess(db, { username }),
  };
}

/**
 * Sign-up attempts are counted per address only, successes included: an open
 * sign-up page is what account-farming bots aim at, and an attempt names no
 * existing account whose sign-ins should suffer for it.
 */
export const SIGNUP_POLICY = { windowSeconds: 60 * 60, freeAttempts: 10, blockSeconds: 60 * 60 } as const;
const signupKey = (ip: string) => `signup:${ip}`;

export async function checkSignupThrottle(db: Executor, clock: Clock, ip: string): Promise<void> {
  const now = clock.now();
  const [row] = await findAttempts(db, [signupKey(ip)]);
  if (row?.blocked_until && row.blocked_until > now) {
    const wait = Math.ceil((row.blocked_until.getTime() - now.getTime()) / 1000);
    throw new OAuthError('rate_limited', `Too many sign-up attempts from your address; try again in ${wait} seconds`, {
      status: 429,
      headers: { 'retry-after': String(wait) },
    });
  }
}

export async function recordSignupAttempt(db: Executor, clock: Clock, ip: string): Promise<void> {
  const now = clock.now();
  const { failures } = await recordFailure(db, signupKey(ip), now, addSeconds(now, -SIGNUP_POLICY.windowSeconds));
  if (failures >= SIGNUP_POLICY.freeAttempts) await setBlockedUntil(db, signupKey(ip), addSeconds(now, SIGNUP_POLICY.blockSeconds));
}
