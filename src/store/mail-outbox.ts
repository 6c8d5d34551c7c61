import { sql } from 'kysely';
import type { Executor } from './executor.js';

export interface NewOutboxMail {
  kind: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  expires_at: Date | null;
}

export interface OutboxBounds {
  /** Most mails waiting at once. */
  pending: number;
  /** Most mails to one address (any case) created within `window`. */
  perRecipient: number;
  windowStart: Date;
}

export interface ClaimedMail {
  id: string;
  kind: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  /** This claim's attempt number; it fences the marks below against a later claim of the same row. */
  attempts: number;
  expires_at: Date | null;
}

/**
 * Inserts a mail unless the outbox or the recipient is over its bound, in one
 * statement; `id` is null when refused, and the counts say why.
 */
export async function insertOutboxMail(
  db: Executor,
  mail: NewOutboxMail,
  now: Date,
  bounds: OutboxBounds,
): Promise<{ id: string | null; pending: number; recent: number }> {
  const r = await sql<{ id: string | null; pending: number; recent: number }>`
    with counts as (
      select
        (select count(*) from (
          select 1 from mail_outbox where sent_at is null and given_up_at is null limit ${bounds.pending}
        ) p)::int as pending,
        (select count(*) from mail_outbox
          where lower(recipient) = lower(${mail.recipient}::text) and created_at > ${bounds.windowStart}::timestamptz)::int as recent
    ), inserted as (
      insert into mail_outbox (kind, recipient, subject, text_body, html_body, next_attempt_at, expires_at, created_at)
      select ${mail.kind}::text, ${mail.recipient}::text, ${mail.subject}::text, ${mail.text_body}::text, ${mail.html_body}::text,
             ${now}::timestamptz, ${mail.expires_at}::timestamptz, ${now}::timestamptz
      from counts where pending < ${bounds.pending}::int and recent < ${bounds.perRecipient}::int
      returning id
    )
    select (select id from inserted) as id, pending, recent from counts`.execute(db);
  return r.rows[0]!;
}

/**
 * Claims up to `batch` due mails for one sender: their attempt count goes up and
 * they are not due again until `leaseUntil`. SKIP LOCKED lets two instances claim
 * at once without ever claiming the same row.
 */
export async function claimDueMail(db: Executor, now: Date, leaseUntil: Date, batch: number): Promise<ClaimedMail[]> {
  const r = await sql<ClaimedMail>`
    with due as (
      select id from mail_outbox
      where sent_at is null and given_up_at is null and next_attempt_at <= ${now}::timestamptz
      order by next_attempt_at
      limit ${batch}::int
      for update skip locked
    )
    update mail_outbox m set attempts = m.attempts + 1, next_attempt_at = ${leaseUntil}::timestamptz
    from due where m.id = due.id
    returning m.id, m.kind, m.recipient, m.subject, m.text_body, m.html_body, m.attempts, m.expires_at`.execute(db);
  return r.rows;
}

const claimed = (db: Executor, mail: Pick<ClaimedMail, 'id' | 'attempts'>) =>
  db
    .updateTable('mail_outbox')
    .where('id', '=', mail.id)
    .where('attempts', '=', mail.attempts)
    .where('sent_at', 'is', null)
    .where('given_up_at', 'is', null);

/** Sent: the bodies (and their one-time links) go. */
export async function markMailSent(db: Executor, mail: Pick<ClaimedMail, 'id' | 'attempts'>, now: Date): Promise<void> {
  await claimed(db, mail).set({ sent_at: now, text_body: null, html_body: null, last_error: null }).execute();
}

export async function markMailFailed(
  db: Executor,
  mail: Pick<ClaimedMail, 'id' | 'attempts'>,
  nextAttemptAt: Date,
  error: string,
): Promise<void> {
  await claimed(db, mail).set({ next_attempt_at: nextAttemptAt, last_error: error }).execute();
}

/** No more attempts: the bodies go, the error stays for the operator. */
export async function giveUpMail(db: Executor, mail: Pick<ClaimedMail, 'id' | 'attempts'>, now: Date, error: string): Promise<void> {
  await claimed(db, mail).set({ given_up_at: now, text_body: null, html_body: null, last_error: error }).execute();
}

/** Hands a claimed mail back untried (a stopping sender): due now, its attempt not counted. */
export async function releaseMail(db: Executor, mail: Pick<ClaimedMail, 'id' | 'attempts'>, now: Date): Promise<void> {
  await claimed(db, mail)
    .set((eb) => ({ attempts: eb('attempts', '-', 1), next_attempt_at: now }))
    .execute();
}
