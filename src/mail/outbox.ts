import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { addSeconds, type Clock } from '../clock.js';
import { insertOutboxMail } from '../store/mail-outbox.js';
import type { Executor } from '../store/executor.js';
import { isMailAddress } from './settings.js';

export type MailKind = 'password_reset' | 'email_verification' | 'notice';

/** One rendered mail (src/mail/templates.ts makes these). */
export interface MailMessage {
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** When the mail's link stops working: it is not sent after that. */
  expiresAt?: Date;
}

/** The part of a logger mail code uses. */
export type MailLog = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

export interface OutboxLimits {
  /** Most mails waiting at once: a flood of requests cannot grow the table without bound. */
  pending: number;
  /** Most mails to one address per hour, sent or not. */
  perRecipientPerHour: number;
}

export const OUTBOX_LIMITS: OutboxLimits = { pending: 10_000, perRecipientPerHour: 5 };

export type EnqueueOutcome =
  | { queued: true; id: string }
  | { queued: false; reason: 'outbox_full' | 'recipient_limit' | 'bad_address' };

const enqueued = new EventEmitter();
// Every sender in the process listens (tests run several).
enqueued.setMaxListeners(0);

/** Wakes this process's sender: for a mail queued by a statement of its own rather than enqueueMail. */
export function notifyMailEnqueued(): void {
  enqueued.emit('mail');
}

/** Calls `listener` after each mail queued in this process; returns the unsubscribe function. */
export function onMailEnqueued(listener: () => void): () => void {
  enqueued.on('mail', listener);
  return () => enqueued.off('mail', listener);
}

/**
 * Queues a mail for the sender: one INSERT, never a wait on the mail server, so
 * request handlers may call it. Over a bound the mail is refused with a log line
 * (the caller's page should look the same either way). Inside a caller's
 * transaction the sender finds it at its next poll, after the commit.
 */
export async function enqueueMail(
  db: Executor,
  clock: Clock,
  message: MailMessage,
  log: MailLog,
  limits: OutboxLimits = OUTBOX_LIMITS,
): Promise<EnqueueOutcome> {
  const mail = { kind: message.kind };
  if (!isMailAddress(message.to)) {
    log.warn({ mail }, 'mail not queued: the recipient is not a plain e-mail address');
    return { queued: false, reason: 'bad_address' };
  }
  const now = clock.now();
  const r = await insertOutboxMail(
    db,
    {
      kind: message.kind,
      recipient: message.to,
      subject: message.subject,
      text_body: message.text,
      html_body: message.html,
      expires_at: message.expiresAt ?? null,
    },
    now,
    { pending: limits.pending, perRecipient: limits.perRecipientPerHour, windowStart: addSeconds(now, -3600) },
  );
  if (r.id === null) {
    const reason = r.pending >= limits.pending ? 'outbox_full' : 'recipient_limit';
    log.warn(
      { mail: { ...mail, to: message.to }, reason },
      reason === 'outbox_full'
        ? `mail not queued: ${limits.pending} mails are already waiting (is the mail server down?)`
        : `mail not queued: ${limits.perRecipientPerHour} mails to this address in the last hour`,
    );
    return { queued: false, reason };
  }
  enqueued.emit('mail');
  return { queued: true, id: r.id };
}

/** Seconds before the next attempt after `attempts` failed ones: 30 s doubling, at most an hour. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(30 * 2 ** Math.max(0, attempts - 1), 3600);
}

/** Attempts before a mail is given up (about five hours of retries). */
export const MAX_ATTEMPTS = 12;
