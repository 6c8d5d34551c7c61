import type { Clock } from '../clock.js';
import { addSeconds } from '../clock.js';
import type { Executor } from '../store/executor.js';
import { countAttempt, forgiveAttempt, isRefused, type AttemptCount } from '../store/login-attempts.js';
import { OAuthError } from '../oauth/errors.js';
import { metrics } from '../metrics.js';
import { countedAddress } from './address.js';

/**
 * Sign-in attempts are counted before the password is checked, in the
 * statement that decides (store/login-attempts.ts), so concurrent guesses
 * cannot pass a check together. Three counters, in this order:
 *
 * - the address, across all accounts: many people may share one address, so
 *   its allowance is the largest;
 * - the account from this address: a guesser is blocked on the account it
 *   guesses at without touching the real user elsewhere;
 * - the account from everywhere: past its ceiling the account is soft-locked:
 *   addresses that have already failed on it in the window are refused, an
 *   address trying it for the first time is still heard, so a stranger (even
 *   with many addresses) cannot keep the real user out, and each of a
 *   botnet's addresses gets a single guess per window.
 *
 * IPv6 clients are counted by their /64 (address.ts), so a client cannot
 * escape a counter by picking another of its own addresses.
 *
 * Past an allowance each further attempt is refused and blocks for twice as
 * long as the one before, up to a cap. An attempt refused by an earlier
 * counter is not counted by the later ones, so no counter grows on attempts
 * it never let through, and the rows one address can create are bounded by
 * its own allowance.
 */
export const THROTTLE_POLICY = {
  windowSeconds: 15 * 60,
  addressFreeFailures: 20,
  accountFreeFailures: 5,
  accountSoftLockFailures: 20,
  firstBlockSeconds: 30,
  maxBlockSeconds: 15 * 60,
} as const;

/**
 * Sign-up attempts are counted per address only, successes included: an open
 * sign-up page is what account-farming bots aim at, and an attempt names no
 * existing account whose sign-ins should suffer for it.
 */
export const SIGNUP_POLICY = { windowSeconds: 60 * 60, freeAttempts: 10, blockSeconds: 60 * 60 } as const;

/**
 * Wrong user codes on /device (RFC 8628 §5.1), counted per browser and per
 * address like sign-ins; a right code takes its attempt back. The arithmetic:
 * there are 20^8 ≈ 2.56e10 user codes. From one address, 10 free entries, then
 * one entry after each block of 60, 120, 240, 480 s… (countAttempt): within a
 * code's 600-second lifetime that is at most 10 + 3 = 13 looked-up guesses, and
 * within a 15-minute window at most K = 14. With N codes live at once, the
 * chance that one address hits any of them in a window is about
 * K·N/2.56e10: 5.5e-7 for N = 1000. A hit gives the guesser no token of anyone
 * else's: at most it ties a stranger's device to the guesser's own account.
 */
export const DEVICE_ENTRY_POLICY = {
  windowSeconds: 15 * 60,
  addressFreeFailures: 10,
  browserFreeFailures: 5,
  firstBlockSeconds: 60,
  maxBlockSeconds: 15 * 60,
} as const;

/**
 * Dynamic client registrations (RFC 7591), counted like sign-ups: every
 * attempt, successful or not, per address; and all addresses together, so
 * that many addresses cannot grow the clients table without bound either:
 * at most `allFreeAttempts` registrations an hour (plus one per doubling block).
 */
export const REGISTRATION_POLICY = { windowSeconds: 60 * 60, freeAttempts: 20, blockSeconds: 60 * 60, allFreeAttempts: 1000 } as const;

/** Rows older than this (and not blocked) count for nothing and may be pruned. */
export const LONGEST_ATTEMPT_WINDOW_SECONDS = Math.max(
  THROTTLE_POLICY.windowSeconds,
  SIGNUP_POLICY.windowSeconds,
  DEVICE_ENTRY_POLICY.windowSeconds,
  REGISTRATION_POLICY.windowSeconds,
);

export interface SignInAttempt {
  username: string;
  ip: string;
}

/** Long usernames are refused elsewhere; here they must not grow keys without bound. */
const accountName = (username: string) => username.trim().toLowerCase().slice(0, 256);
export function signInKeys(attempt: SignInAttempt) {
  const ip = countedAddress(attempt.ip);
  return { address: `ip:${ip}`, accountFromAddress: `user:${accountName(attempt.username)}|ip:${ip}`, account: `user:${accountName(attempt.username)}` };
}

function refuse(clock: Clock, count: AttemptCount, what: string): never {
  const wait = Math.max(1, Math.ceil(((count.blocked_until?.getTime() ?? 0) - clock.now().getTime()) / 1000));
  throw new OAuthError('rate_limited', `Too many ${what}; try again in ${wait} seconds`, {
    status: 429,
    headers: { 'retry-after': String(wait) },
  });
}

/**
 * Counts a sign-in attempt against its three counters and lets it through, or
 * throws the 429 OAuthError (with Retry-After) before any password is checked.
 */
export async function admitSignIn(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<void> {
  const P = THROTTLE_POLICY;
  const now = clock.now();
  const rule = (free: number, firstBlockSeconds: number = P.firstBlockSeconds) => ({
    now,
    windowStart: addSeconds(now, -P.windowSeconds),
    free,
    firstBlockSeconds,
    maxBlockSeconds: P.maxBlockSeconds,
  });
  const keys = signInKeys(attempt);
  const throttled = (count: AttemptCount): never => {
    metrics.loginThrottled.inc();
    refuse(clock, count, 'failed sign-in attempts');
  };

  const address = await countAttempt(db, keys.address, rule(P.addressFreeFailures));
  if (isRefused(address, P.addressFreeFailures)) throttled(address);
  const local = await countAttempt(db, keys.accountFromAddress, rule(P.accountFreeFailures));
  if (isRefused(local, P.accountFreeFailures)) throttled(local);
  const account = await countAttempt(db, keys.account, rule(P.accountSoftLockFailures, P.maxBlockSeconds));
  // Soft lock: only an address with no earlier attempt on this account in the window is heard.
  if (isRefused(account, P.accountSoftLockFailures) && local.failures > 1) throttled(account);
}

/**
 * A correct password takes its attempt back: the account forgets this
 * address's failures (the owner typed the right one), while the address and
 * account-wide counters lose just this attempt, so a success neither counts
 * as a failure nor wipes out failures others caused.
 */
export async function forgiveSignIn(db: Executor, clock: Clock, attempt: SignInAttempt): Promise<void> {
  const keys = signInKeys(attempt);
  await forgiveAttempt(db, clock.now(), { clear: [keys.accountFromAddress], uncount: [keys.address, keys.account] });
}

/**
 * Second-step (TOTP or recovery code) attempts are throttled like passwords,
 * with their own counters: per half-done sign-in (a fresh password is needed
 * after a few wrong codes) and per account (whoever knows the password cannot
 * start sign-in after sign-in to get more guesses at the six digits).
 */
export const SECOND_STEP_POLICY = { pendingFreeFailures: 5, accountFreeFailures: 10 } as const;

/** Counts a second-step attempt against both counters, or throws the 429 OAuthError before the code is checked. */
export async function admitSecondStep(db: Executor, clock: Clock, keys: { pending: string; account: string }): Promise<void> {
  const P = THROTTLE_POLICY;
  const now = clock.now();
  for (const [key, free] of [[keys.pending, SECOND_STEP_POLICY.pendingFreeFailures], [keys.account, SECOND_STEP_POLICY.accountFreeFailures]] as const) {
    const count = await countAttempt(db, key, { now, windowStart: addSeconds(now, -P.windowSeconds), free, firstBlockSeconds: P.firstBlockSeconds, maxBlockSeconds: P.maxBlockSeconds });
    if (isRefused(count, free)) {
      metrics.loginThrottled.inc();
      refuse(clock, count, 'wrong codes');
    }
  }
}

/** Counts a sign-up attempt from `ip` and lets it through, or throws 429 with Retry-After. */
export async function admitSignup(db: Executor, clock: Clock, ip: string): Promise<void> {
  const now = clock.now();
  const count = await countAttempt(db, `signup:${countedAddress(ip)}`, {
    now,
    windowStart: addSeconds(now, -SIGNUP_POLICY.windowSeconds),
    free: SIGNUP_POLICY.freeAttempts,
    firstBlockSeconds: SIGNUP_POLICY.blockSeconds,
    maxBlockSeconds: SIGNUP_POLICY.blockSeconds,
  });
  if (isRefused(count, SIGNUP_POLICY.freeAttempts)) refuse(clock, count, 'sign-up attempts from your address');
}

/** Counts a registration attempt from `ip`, and one for everyone, or throws 429 with Retry-After. */
export async function admitRegistration(db: Executor, clock: Clock, ip: string): Promise<void> {
  const P = REGISTRATION_POLICY;
  const now = clock.now();
  const rule = (free: number) => ({ now, windowStart: addSeconds(now, -P.windowSeconds), free, firstBlockSeconds: P.blockSeconds, maxBlockSeconds: P.blockSeconds });
  const address = await countAttempt(db, `register:${countedAddress(ip)}`, rule(P.freeAttempts));
  if (isRefused(address, P.freeAttempts)) refuse(clock, address, 'client registrations from your address');
  const everyone = await countAttempt(db, 'register:*', rule(P.allFreeAttempts));
  if (isRefused(everyone, P.allFreeAttempts)) refuse(clock, everyone, 'client registrations');
}

export interface UserCodeEntry {
  ip: string;
  /** Stands for the browser: a digest of something only it holds (its CSRF secret's token for /device). */
  browser: string;
}

export function userCodeKeys(entry: UserCodeEntry) {
  return { address: `device:ip:${countedAddress(entry.ip)}`, browser: `device:browser:${entry.browser}` };
}

/**
 * Counts a user code entry per address, then per browser, and lets it through,
 * or throws 429 (with Retry-After) before the code is looked up.
 */
export async function admitUserCodeEntry(db: Executor, clock: Clock, entry: UserCodeEntry): Promise<void> {
  const P = DEVICE_ENTRY_POLICY;
  const now = clock.now();
  const rule = (free: number) => ({ now, windowStart: addSeconds(now, -P.windowSeconds), free, firstBlockSeconds: P.firstBlockSeconds, maxBlockSeconds: P.maxBlockSeconds });
  const keys = userCodeKeys(entry);
  const address = await countAttempt(db, keys.address, rule(P.addressFreeFailures));
  if (isRefused(address, P.addressFreeFailures)) refuse(clock, address, 'wrong codes from your address');
  const browser = await countAttempt(db, keys.browser, rule(P.browserFreeFailures));
  if (isRefused(browser, P.browserFreeFailures)) refuse(clock, browser, 'wrong codes');
}

/** A code that was right takes its attempt back: the browser's count goes, the address loses this one. */
export async function forgiveUserCodeEntry(db: Executor, clock: Clock, entry: UserCodeEntry): Promise<void> {
  const keys = userCodeKeys(entry);
  await forgiveAttempt(db, clock.now(), { clear: [keys.browser], uncount: [keys.address] });
}
