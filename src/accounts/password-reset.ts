import type { AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { addSeconds, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { hashPassword } from '../crypto/passwords.js';
import { notifyMailEnqueued, OUTBOX_LIMITS, enqueueMail, type MailLog, type OutboxLimits } from '../mail/outbox.js';
import { mailConfigured } from '../mail/settings.js';
import { passwordResetMail, PASSWORD_RESET_TTL_SECONDS } from '../mail/templates.js';
import { requireAdministrator, type Acting } from '../manage/actor.js';
import { passwordProblem } from '../manage/users.js';
import { OAuthError } from '../oauth/errors.js';
import { claimAccountLink, findAccountLink, insertAccountLink, insertResetLinkWithMail, useUpAccountLinks } from '../store/account-links.js';
import type { Executor } from '../store/executor.js';
import { revokeGrantsOfUser } from '../store/grants.js';
import { countAttempt, isRefused } from '../store/login-attempts.js';
import { inTransaction } from '../store/transaction.js';
import { findUserById, updatePasswordHash } from '../store/users.js';
import { countedAddress } from './address.js';
import { linkDigest, linkProblem, newLinkToken, type LinkProblem } from './links.js';
import { endSessionsOfUser, type SessionEndDeps } from './sessions.js';

export interface RecoveryDeps {
  db: Executor;
  clock: Clock;
  config: Pick<Config, 'smtp' | 'siteName' | 'issuer'>;
  log: MailLog;
  outboxLimits?: OutboxLimits;
}

/**
 * Reset requests are counted per client address (over it: a 429 page) and per
 * e-mail address typed (over it: the same page as ever, and no mail), every
 * request alike whether or not an account has the address: the counters say
 * nothing about which addresses exist. The outbox's own bound per recipient
 * (five an hour) stands behind both.
 */
export const RESET_REQUEST_POLICY = {
  windowSeconds: 60 * 60,
  addressFree: 10,
  addressFirstBlockSeconds: 60,
  emailFree: 3,
  emailBlockSeconds: 60 * 60,
} as const;

/** Long inputs are refused by the form; here they must not grow keys without bound. */
const emailKey = (email: string) => `reset:email:${email.trim().toLowerCase().slice(0, 320)}`;

const site = (deps: RecoveryDeps) => ({ siteName: deps.config.siteName, issuer: deps.config.issuer });

/**
 * /forgot-password: queues a reset link for the account with `email`, if any.
 * Does the same work and returns the same nothing either way (one statement
 * finds the account and queues the mail), so neither the answer nor its time
 * says whether the address has an account. Throws the 429 OAuthError when the
 * client address is over its allowance.
 */
export async function requestPasswordReset(deps: RecoveryDeps, email: string, audit: AuditContext): Promise<void> {
  const P = RESET_REQUEST_POLICY;
  const now = deps.clock.now();
  const windowStart = addSeconds(now, -P.windowSeconds);
  const address = await countAttempt(deps.db, `reset:ip:${countedAddress(audit.address ?? '')}`, {
    now,
    windowStart,
    free: P.addressFree,
    firstBlockSeconds: P.addressFirstBlockSeconds,
    maxBlockSeconds: P.windowSeconds,
  });
  if (isRefused(address, P.addressFree)) {
    const wait = Math.max(1, Math.ceil(((address.blocked_until?.getTime() ?? 0) - now.getTime()) / 1000));
    throw new OAuthError('rate_limited', `Too many reset requests from your address; try again in ${wait} seconds`, {
      status: 429,
      headers: { 'retry-after': String(wait) },
    });
  }
  const typed = await countAttempt(deps.db, emailKey(email), {
    now,
    windowStart,
    free: P.emailFree,
    firstBlockSeconds: P.emailBlockSeconds,
    maxBlockSeconds: P.emailBlockSeconds,
  });
  // Over the allowance, still some work: the token and the mail are made all the same.
  const token = newLinkToken();
  const mail = passwordResetMail(site(deps), email, token, now);
  const limits = deps.outboxLimits ?? OUTBOX_LIMITS;
  let result: { user_id: string | null; username: string | null; mail_id: string | null; reason?: string };
  if (typed.failures > P.emailFree) {
    result = { user_id: null, username: null, mail_id: null, reason: 'throttled' };
  } else {
    const r = await insertResetLinkWithMail(deps.db, {
      email,
      tokenDigest: linkDigest(token)!,
      now,
      expiresAt: mail.expiresAt!,
      mail: { kind: mail.kind, subject: mail.subject, text_body: mail.text, html_body: mail.html },
      bounds: { pending: limits.pending, perRecipient: limits.perRecipientPerHour, windowStart: addSeconds(now, -3600) },
    });
    const reason = r.user_id === null ? 'unknown_email' : r.mail_id === null ? (r.pending >= limits.pending ? 'outbox_full' : 'recipient_limit') : undefined;
    result = { ...r, reason };
    if (r.mail_id !== null) notifyMailEnqueued();
    else if (r.user_id !== null) deps.log.warn({ mail: { kind: mail.kind }, reason }, 'password-reset mail not queued');
  }
  await recordAudit(deps.db, {
    ...audit,
    at: now,
    action: 'password.reset_request',
    outcome: result.mail_id ? 'success' : 'failure',
    ...(result.user_id ? { user: { id: result.user_id, username: result.username ?? undefined } } : { target: email.slice(0, 320) }),
    details: result.reason ? { reason: result.reason } : undefined,
  });
}

export type SentResetLink = { kind: 'mailed'; to: string; expiresAt: Date } | { kind: 'link'; url: string; expiresAt: Date; why: 'no_smtp' | 'no_email' | 'not_queued' };

/**
 * An administrator's (or the operator's) reset for `userId`: mailed to the
 * user's address when e-mail is configured and they have one, otherwise a
 * one-time link returned for the caller to hand over. For bin/latch
 * `user reset-password` and the admin page alike.
 */
export async function sendResetLink(deps: RecoveryDeps, userId: string, acting: Acting): Promise<SentResetLink> {
  requireAdministrator(acting.actor);
  const user = await findUserById(deps.db, userId);
  if (!user) throw new OAuthError('not_found', 'No such user', { status: 404 });
  const now = deps.clock.now();
  const token = newLinkToken();
  const expiresAt = addSeconds(now, PASSWORD_RESET_TTL_SECONDS);
  const url = `${deps.config.issuer}/reset-password?token=${token}`;
  const outcome = await inTransaction(deps.db, async (trx): Promise<SentResetLink> => {
    await insertAccountLink(trx, { token_digest: linkDigest(token)!, purpose: 'password_reset', user_id: user.id, email: null, created_at: now, expires_at: expiresAt });
    if (!mailConfigured(deps.config)) return { kind: 'link', url, expiresAt, why: 'no_smtp' };
    if (!user.email) return { kind: 'link', url, expiresAt, why: 'no_email' };
    const queued = await enqueueMail(trx, deps.clock, passwordResetMail(site(deps), user.email, token, now), deps.log, deps.outboxLimits);
    return queued.queued ? { kind: 'mailed', to: user.email, expiresAt } : { kind: 'link', url, expiresAt, why: 'not_queued' };
  });
  await recordAudit(deps.db, { ...acting, at: now, action: 'password.reset_request', user, details: { by: 'administrator', delivery: outcome.kind } });
  return outcome;
}

export type ResetLinkState = { ok: true; userId: string; username: string } | { ok: false; problem: LinkProblem };

/** Whether a reset link still works, without using it (the page with the form). */
export async function checkResetLink(deps: Pick<RecoveryDeps, 'db' | 'clock'>, token: unknown): Promise<ResetLinkState> {
  const d = linkDigest(token);
  const link = d ? await findAccountLink(deps.db, d, 'password_reset') : undefined;
  const problem = linkProblem(link, deps.clock.now());
  return problem ? { ok: false, problem } : { ok: true, userId: link!.user_id, username: link!.username };
}

export type ResetOutcome = { ok: true; username: string } | { ok: false; problem: LinkProblem } | { ok: false; field: 'password'; message: string };

/**
 * Sets a new password through a reset link: the link is used (one statement,
 * so it works once), the other reset links of the user go, and every session
 * and every grant (refresh-token family) of the user ends, all in one
 * transaction. The password follows the sign-up rule.
 */
export async function resetPassword(deps: Pick<RecoveryDeps, 'db' | 'clock'> & Pick<SessionEndDeps, 'onSessionsEnded'>, token: unknown, password: string, audit: AuditContext): Promise<ResetOutcome> {
  const state = await checkResetLink(deps, token);
  if (!state.ok) return state;
  const problem = password === '' ? 'must not be empty' : passwordProblem(password, state.username);
  if (problem) return { ok: false, field: 'password', message: `The new password ${problem}.` };
  const hash = await hashPassword(password);
  const now = deps.clock.now();
  const user = { id: state.userId, username: state.username };
  return inTransaction(deps.db, async (trx): Promise<ResetOutcome> => {
    const claimed = await claimAccountLink(trx, linkDigest(token)!, 'password_reset', now);
    // Used (or expired) between the check and now: a concurrent reset won.
    if (!claimed || claimed.user_id !== user.id) return { ok: false, problem: 'used' };
    await updatePasswordHash(trx, user.id, hash);
    await useUpAccountLinks(trx, user.id, 'password_reset', now);
    await revokeGrantsOfUser(trx, user.id, now);
    const ended = await endSessionsOfUser({ db: trx, onSessionsEnded: deps.onSessionsEnded }, user.id);
    await recordAudit(trx, { ...audit, at: now, action: 'password.reset', user, details: { sessions_ended: ended.length } });
    return { ok: true, username: user.username };
  });
}
