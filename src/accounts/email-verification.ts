import type { AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { addSeconds } from '../clock.js';
import { enqueueMail } from '../mail/outbox.js';
import { mailConfigured } from '../mail/settings.js';
import { emailVerificationMail } from '../mail/templates.js';
import { claimEmailVerification, findAccountLink, insertAccountLink, useUpAccountLinks } from '../store/account-links.js';
import { inTransaction } from '../store/transaction.js';
import { updateEmail } from '../store/users.js';
import { linkDigest, linkProblem, newLinkToken, type LinkProblem } from './links.js';
import type { RecoveryDeps } from './password-reset.js';
import { provesPassword, type Actor, type SecurityOutcome } from './security.js';

/** How long an e-mail verification link works. */
export const EMAIL_VERIFICATION_TTL_SECONDS = 24 * 3600;

/**
 * Mails `user` a link that verifies `email` (their address now), when e-mail
 * is configured; returns whether one was queued. Without e-mail the address
 * stays unverified (`email_verified` false).
 */
export async function sendEmailVerification(deps: RecoveryDeps, user: { id: string; email: string | null }): Promise<boolean> {
  if (!mailConfigured(deps.config) || !user.email) return false;
  const email = user.email;
  const now = deps.clock.now();
  const token = newLinkToken();
  const expiresAt = addSeconds(now, EMAIL_VERIFICATION_TTL_SECONDS);
  return inTransaction(deps.db, async (trx) => {
    await insertAccountLink(trx, { token_digest: linkDigest(token)!, purpose: 'email_verification', user_id: user.id, email, created_at: now, expires_at: expiresAt });
    const queued = await enqueueMail(trx, deps.clock, emailVerificationMail({ siteName: deps.config.siteName, issuer: deps.config.issuer }, email, token, expiresAt), deps.log, deps.outboxLimits);
    return queued.queued;
  });
}

export type VerifyOutcome = { ok: true; email: string } | { ok: false; problem: LinkProblem | 'changed' };

/** /verify-email: uses the link and marks the address verified, if it is still the user's. */
export async function verifyEmail(deps: Pick<RecoveryDeps, 'db' | 'clock'>, token: unknown, audit: AuditContext): Promise<VerifyOutcome> {
  const d = linkDigest(token);
  if (!d) return { ok: false, problem: 'invalid' };
  const now = deps.clock.now();
  const claimed = await claimEmailVerification(deps.db, d, now);
  if (!claimed) {
    const problem = linkProblem(await findAccountLink(deps.db, d, 'email_verification'), now);
    return { ok: false, problem: problem ?? 'used' };
  }
  await recordAudit(deps.db, {
    ...audit,
    at: now,
    action: 'email.verify',
    outcome: claimed.verified ? 'success' : 'failure',
    user: { id: claimed.userId },
    details: claimed.verified ? undefined : { reason: 'address_changed' },
  });
  return claimed.verified ? { ok: true, email: claimed.email! } : { ok: false, problem: 'changed' };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * A new address for the signed-in user (their password required): it starts
 * unverified, earlier verification links stop working, and a new one goes to
 * the new address. An empty address removes it.
 */
export async function changeEmail(deps: RecoveryDeps, actor: Actor, input: string, password: string): Promise<SecurityOutcome<{ mailed: boolean }>> {
  const email = input.trim();
  if (email !== '' && (!EMAIL.test(email) || email.length > 320)) return { ok: false, field: 'email', message: 'That is not an e-mail address.' };
  if (!(await provesPassword(deps, actor, password))) {
    await recordAudit(deps.db, { ...actor.audit, at: deps.clock.now(), action: 'email.change', outcome: 'failure', user: actor.user, details: { reason: 'wrong_password' } });
    return { ok: false, field: 'email_password', message: 'That is not your current password.' };
  }
  const now = deps.clock.now();
  await inTransaction(deps.db, async (trx) => {
    await updateEmail(trx, actor.user.id, email === '' ? null : email);
    await useUpAccountLinks(trx, actor.user.id, 'email_verification', now);
    await recordAudit(trx, { ...actor.audit, at: now, action: 'email.change', user: actor.user });
  });
  const mailed = await sendEmailVerification(deps, { id: actor.user.id, email: email === '' ? null : email });
  return { ok: true, value: { mailed } };
}
