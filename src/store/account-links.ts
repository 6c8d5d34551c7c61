import { sql } from 'kysely';
import type { AccountLinkPurpose } from '../db/schema.js';
import type { Executor } from './executor.js';
import type { NewOutboxMail, OutboxBounds } from './mail-outbox.js';

export interface NewAccountLink {
  token_digest: string;
  purpose: AccountLinkPurpose;
  user_id: string;
  email: string | null;
  created_at: Date;
  expires_at: Date;
}

export async function insertAccountLink(db: Executor, link: NewAccountLink): Promise<void> {
  await db.insertInto('account_links').values(link).execute();
}

/** A link as stored, with its user's name, to tell a live link from a used, expired or unknown one. */
export function findAccountLink(db: Executor, tokenDigest: string, purpose: AccountLinkPurpose) {
  return db
    .selectFrom('account_links as l')
    .innerJoin('users as u', 'u.id', 'l.user_id')
    .select(['l.user_id', 'l.email', 'l.expires_at', 'l.used_at', 'u.username'])
    .where('l.token_digest', '=', tokenDigest)
    .where('l.purpose', '=', purpose)
    .executeTakeFirst();
}

/**
 * Uses a link, in one statement: of concurrent uses exactly one sees it
 * unused and unexpired and marks it; the others get nothing.
 */
export function claimAccountLink(db: Executor, tokenDigest: string, purpose: AccountLinkPurpose, now: Date) {
  return db
    .updateTable('account_links')
    .set({ used_at: now })
    .where('token_digest', '=', tokenDigest)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['user_id', 'email'])
    .executeTakeFirst();
}

/** Marks every unused link of `purpose` a user holds as used: one reset (or address change) ends the others. */
export async function useUpAccountLinks(db: Executor, userId: string, purpose: AccountLinkPurpose, now: Date): Promise<void> {
  await db.updateTable('account_links').set({ used_at: now }).where('user_id', '=', userId).where('purpose', '=', purpose).where('used_at', 'is', null).execute();
}

/**
 * Uses a verification link and marks its user's address verified when it is
 * still the address the link was sent to, in one statement. `verified` is
 * false when the link was good but the address has changed since.
 */
export async function claimEmailVerification(db: Executor, tokenDigest: string, now: Date) {
  const r = await sql<{ user_id: string; email: string | null; username: string | null }>`
    with claimed as (
      update account_links set used_at = ${now}::timestamptz
      where token_digest = ${tokenDigest} and purpose = 'email_verification' and used_at is null and expires_at > ${now}::timestamptz
      returning user_id, email
    ), verified as (
      update users u set email_verified = true from claimed
      where u.id = claimed.user_id and lower(u.email) = lower(claimed.email)
      returning u.username
    )
    select claimed.user_id, claimed.email, (select username from verified) as username from claimed`.execute(db);
  const row = r.rows[0];
  return row ? { userId: row.user_id, email: row.email, verified: row.username !== null } : undefined;
}

/**
 * A password-reset request, in one statement whether or not an account has
 * the address, so the two cases cost the same: finds the (first) user with
 * `email` (any case) and, when the outbox is within its bounds (the same ones
 * enqueueMail keeps), stores the link and queues its mail to the address on
 * the account. `mail` is rendered by the caller before it knows whether
 * anyone will get it.
 */
export async function insertResetLinkWithMail(
  db: Executor,
  input: { email: string; tokenDigest: string; now: Date; expiresAt: Date; mail: Omit<NewOutboxMail, 'recipient' | 'expires_at'>; bounds: OutboxBounds },
): Promise<{ user_id: string | null; username: string | null; mail_id: string | null; pending: number; recent: number }> {
  const { email, tokenDigest, now, expiresAt, mail, bounds } = input;
  const r = await sql<{ user_id: string | null; username: string | null; mail_id: string | null; pending: number; recent: number }>`
    with target as (
      select id, username, email from users
      where email is not null and lower(email) = lower(${email}::text)
      order by created_at, id limit 1
    ), counts as (
      select
        (select count(*) from (
          select 1 from mail_outbox where sent_at is null and given_up_at is null limit ${bounds.pending}
        ) p)::int as pending,
        (select count(*) from mail_outbox
          where lower(recipient) = lower(${email}::text) and created_at > ${bounds.windowStart}::timestamptz)::int as recent
    ), allowed as (
      select target.id, target.email from target, counts
      where counts.pending < ${bounds.pending}::int and counts.recent < ${bounds.perRecipient}::int
    ), link as (
      insert into account_links (token_digest, purpose, user_id, email, created_at, expires_at)
      select ${tokenDigest}::text, 'password_reset', id, null, ${now}::timestamptz, ${expiresAt}::timestamptz from allowed
      returning user_id
    ), queued as (
      insert into mail_outbox (kind, recipient, subject, text_body, html_body, next_attempt_at, expires_at, created_at)
      select ${mail.kind}::text, allowed.email, ${mail.subject}::text, ${mail.text_body}::text, ${mail.html_body}::text,
             ${now}::timestamptz, ${expiresAt}::timestamptz, ${now}::timestamptz
      from allowed
      returning id
    )
    select (select id from target) as user_id, (select username from target) as username,
           (select id from queued) as mail_id, pending, recent
    from counts`.execute(db);
  return r.rows[0]!;
}
