import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { addSeconds, ManualClock } from '../../src/clock.js';
import { PRUNE_RETENTION_SECONDS } from '../../src/housekeeping.js';
import { enqueueMail, OUTBOX_LIMITS } from '../../src/mail/outbox.js';
import { emailVerificationMail, noticeMail, passwordResetMail } from '../../src/mail/templates.js';
import { claimDueMail, giveUpMail, markMailSent } from '../../src/store/mail-outbox.js';
import { pruneExpired } from '../../src/store/prune.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { capturedLog, mailConfig, oneTimeToken, outboxRow } from './helpers.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await testDatabase();
});
afterEach(async () => {
  await t.db.deleteFrom('mail_outbox').execute();
});
afterAll(() => t.close());

const notice = (to: string) => noticeMail(mailConfig(), to, 'Note', 'Body.');

describe('the outbox bound', () => {
  it(`refuses a sixth mail to one address within an hour (any case), with a log line, and takes it again an hour later`, async () => {
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    for (let i = 0; i < OUTBOX_LIMITS.perRecipientPerHour; i++) {
      expect((await enqueueMail(t.db, clock, notice('kim@example.com'), log)).queued).toBe(true);
      clock.advance(60);
    }
    expect(await enqueueMail(t.db, clock, notice('KIM@Example.com'), log)).toEqual({ queued: false, reason: 'recipient_limit' });
    expect(lines()).toContain('mail not queued: 5 mails to this address in the last hour');
    expect((await enqueueMail(t.db, clock, notice('lee@example.com'), log)).queued).toBe(true);
    clock.advance(3600 - 4 * 60);
    expect((await enqueueMail(t.db, clock, notice('kim@example.com'), log)).queued).toBe(true);
    expect(await t.db.selectFrom('mail_outbox').select('id').where('recipient', 'ilike', 'kim@example.com').execute()).toHaveLength(6);
  });

  it(`refuses any mail while ${OUTBOX_LIMITS.pending} are waiting, and takes mail again once they went out`, async () => {
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    await sql`
      insert into mail_outbox (kind, recipient, subject, text_body, html_body, next_attempt_at, created_at)
      select 'notice', 'flood' || i || '@example.com', 's', 't', 'h', ${clock.now()}::timestamptz, ${clock.now()}::timestamptz
      from generate_series(1, ${OUTBOX_LIMITS.pending}::int) i`.execute(t.db);
    expect(await enqueueMail(t.db, clock, notice('max@example.com'), log)).toEqual({ queued: false, reason: 'outbox_full' });
    expect(lines()).toContain(`mail not queued: ${OUTBOX_LIMITS.pending} mails are already waiting`);
    expect(await t.db.selectFrom('mail_outbox').select('id').where('recipient', '=', 'max@example.com').execute()).toEqual([]);

    const one = await t.db.selectFrom('mail_outbox').select('id').limit(1).executeTakeFirstOrThrow();
    await t.db.updateTable('mail_outbox').set({ sent_at: clock.now(), text_body: null, html_body: null }).where('id', '=', one.id).execute();
    expect((await enqueueMail(t.db, clock, notice('max@example.com'), log)).queued).toBe(true);
  });

  it('refuses a recipient that is not a plain address (no header injection)', async () => {
    const { log } = capturedLog();
    for (const to of ['a@b.example\r\nBcc: x@y.example', 'Name <a@b.example>', 'nobody', 'a@b.example, c@d.example']) {
      expect(await enqueueMail(t.db, new ManualClock(), notice(to), log)).toEqual({ queued: false, reason: 'bad_address' });
    }
    expect(await t.db.selectFrom('mail_outbox').select('id').execute()).toEqual([]);
  });
});

describe('the outbox table', () => {
  it('holds bodies only while a mail is pending (the database refuses a sent row with a body)', async () => {
    const clock = new ManualClock();
    const r = await enqueueMail(t.db, clock, notice('ned@example.com'), capturedLog().log);
    if (!r.queued) throw new Error('not queued');
    await expect(t.db.updateTable('mail_outbox').set({ sent_at: clock.now() }).where('id', '=', r.id).execute()).rejects.toThrow(
      /mail_outbox_bodies_only_while_pending/,
    );
  });

  it('lets a claim be settled only by the sender that holds it', async () => {
    const clock = new ManualClock();
    const r = await enqueueMail(t.db, clock, notice('ola@example.com'), capturedLog().log);
    if (!r.queued) throw new Error('not queued');
    const [first] = await claimDueMail(t.db, clock.now(), clock.now(), 10); // lease ends at once: claimable again
    const [second] = await claimDueMail(t.db, clock.now(), addSeconds(clock.now(), 60), 10);
    expect([first!.attempts, second!.attempts]).toEqual([1, 2]);
    await markMailSent(t.db, first!, clock.now()); // the stale claim: no effect
    expect((await outboxRow(t.db, r.id)).sent_at).toBeNull();
    await markMailSent(t.db, second!, clock.now());
    expect((await outboxRow(t.db, r.id)).sent_at).toEqual(clock.now());
  });

  it('is pruned of sent and abandoned mail after the retention period, never of pending mail', async () => {
    const clock = new ManualClock();
    const { log } = capturedLog();
    const ids: string[] = [];
    for (const to of ['p1@example.com', 'p2@example.com', 'p3@example.com']) {
      const r = await enqueueMail(t.db, clock, notice(to), log);
      if (!r.queued) throw new Error('not queued');
      ids.push(r.id);
    }
    const [sent, abandoned] = await claimDueMail(t.db, clock.now(), addSeconds(clock.now(), 60), 2);
    await markMailSent(t.db, sent!, clock.now());
    await giveUpMail(t.db, abandoned!, clock.now(), 'ECONNREFUSED');

    const prune = () => pruneExpired(t.db, clock.now(), addSeconds(clock.now(), -PRUNE_RETENTION_SECONDS));
    expect((await prune()).mail_outbox).toBe(0);
    clock.advance(PRUNE_RETENTION_SECONDS + 1);
    expect((await prune()).mail_outbox).toBe(2);
    expect((await t.db.selectFrom('mail_outbox').select('id').execute()).map((r) => r.id)).toEqual([ids[2]]);
  });
});

describe('mail templates', () => {
  const site = { siteName: 'Ex <b>"&', issuer: 'https://id.example.com' };

  it('build links from the issuer and escape the site name in HTML, not in text', () => {
    const token = oneTimeToken();
    const now = new Date(Date.UTC(2030, 0, 1));
    const reset = passwordResetMail(site, 'u@example.com', token, now);
    expect(reset.kind).toBe('password_reset');
    expect(reset.expiresAt).toEqual(new Date(now.getTime() + 30 * 60 * 1000));
    expect(reset.text).toContain(`https://id.example.com/reset-password?token=${token}`);
    expect(reset.text).toContain('Ex <b>"&');
    expect(reset.html).toContain('Ex &lt;b&gt;&quot;&amp;');
    expect(reset.html).not.toContain('<b>');

    const verify = emailVerificationMail(site, 'u@example.com', 'a+b/c=');
    expect(verify.kind).toBe('email_verification');
    expect(verify.text).toContain('https://id.example.com/verify-email?token=a%2Bb%2Fc%3D');
    expect(verify.html).toContain('href="https://id.example.com/verify-email?token=a%2Bb%2Fc%3D"');
    expect(verify.expiresAt).toBeUndefined();

    const n = noticeMail(site, 'u@example.com', 'Password changed', 'Your password changed.\n\nIf it was not you, <act>.');
    expect(n.subject).toBe('Password changed (Ex <b>"&)');
    expect(n.html).toContain('<p>If it was not you, &lt;act&gt;.</p>');
    expect(n.text).toContain('If it was not you, <act>.');
  });
});
