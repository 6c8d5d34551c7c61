import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { openPostgres } from '../../src/db/database.js';
import { enqueueMail, MAX_ATTEMPTS, retryDelaySeconds } from '../../src/mail/outbox.js';
import { MailSender, startMailSender } from '../../src/mail/sender.js';
import { mailConfigured } from '../../src/mail/settings.js';
import { noticeMail, passwordResetMail } from '../../src/mail/templates.js';
import { freshPostgresDatabase, requirePostgresServer, testDatabase, type TestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/server.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { capturedLog, mailConfig, oneTimeToken, outboxRow, TEST_TIMEOUTS } from './helpers.js';

let t: TestDatabase;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  t = await testDatabase();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await t.db.deleteFrom('mail_outbox').execute();
});
afterAll(() => t.close());

async function smtp(options?: Parameters<typeof startSmtpServer>[0]): Promise<TestSmtpServer> {
  const s = await startSmtpServer(options);
  cleanups.push(() => s.close());
  return s;
}

function sender(smtpUrl: string, clock: ManualClock, log = capturedLog().log, db = t.db, stopGraceMs = 500) {
  const s = new MailSender({ db, clock, config: mailConfig(smtpUrl), log }, { pollMs: 60_000, timeouts: TEST_TIMEOUTS, stopGraceMs });
  cleanups.push(() => s.stop());
  return s;
}

const queued = async (p: ReturnType<typeof enqueueMail>) => {
  const r = await p;
  if (!r.queued) throw new Error(`not queued: ${r.reason}`);
  return r.id;
};

describe('mail sender, against a real SMTP server', () => {
  it('delivers an enqueued reset mail with text and HTML bodies, the site name and the sender, then drops the bodies', async () => {
    const server = await smtp();
    const clock = new ManualClock();
    const config = mailConfig(`smtp://127.0.0.1:${server.port}`);
    const token = oneTimeToken();
    const { log } = capturedLog();
    const id = await queued(enqueueMail(t.db, clock, passwordResetMail(config, 'bob@example.com', token, clock.now()), log));

    expect(await sender(`smtp://127.0.0.1:${server.port}`, clock).runOnce()).toBe(1);

    const [mail] = await server.waitFor(1);
    const link = `https://auth.acme.test/reset-password?token=${token}`;
    expect(mail!.from).toBe('auth@acme.test');
    expect(mail!.to).toEqual(['bob@example.com']);
    expect(mail!.headers.from).toBe('"Acme Sign-in" <auth@acme.test>');
    expect(mail!.headers.subject).toBe('Reset your Acme Sign-in password');
    expect(mail!.text).toContain(link);
    expect(mail!.text).toContain('30 minutes');
    expect(mail!.text).toContain('Acme Sign-in');
    expect(mail!.html).toContain(`<a href="${link}">`);
    expect(mail!.html).toContain('<h1 style="font-size:120%">Acme Sign-in</h1>');

    const row = await outboxRow(t.db, id);
    expect(row).toMatchObject({ sent_at: clock.now(), attempts: 1, text_body: null, html_body: null, last_error: null });
    expect(JSON.stringify(row)).not.toContain(token);
  });

  it('is woken by an enqueue in this process instead of waiting for its next poll', async () => {
    const server = await smtp();
    const clock = new ManualClock();
    const { log } = capturedLog();
    const first = await queued(enqueueMail(t.db, clock, noticeMail(mailConfig(), 'carol@example.com', 'First', 'Before the start.'), log));
    const s = sender(`smtp://127.0.0.1:${server.port}`, clock);
    s.start(); // its first look finds the first mail; then it polls every 60 s
    await server.waitFor(1);
    for (let i = 0; (await outboxRow(t.db, first)).sent_at === null; i++) {
      if (i > 1000) throw new Error('the first mail was never marked sent');
      await new Promise((r) => setTimeout(r, 10));
    }
    // Idle now: only the wake can deliver within the 20 s waitFor.
    await enqueueMail(t.db, clock, noticeMail(mailConfig(), 'carol@example.com', 'Hello', 'A notice.'), log);
    const mails = await server.waitFor(2, 20_000);
    expect(mails[1]!.headers.subject).toBe('Hello (Acme Sign-in)');
    expect(mails[1]!.text).toContain('A notice.');
  });

  it('with the server down: enqueue returns at once, retries back off on the clock, and the mail goes out once it is back', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    const s = sender(`smtp://127.0.0.1:${port}`, clock, log);

    const started = Date.now();
    const id = await queued(enqueueMail(t.db, clock, noticeMail(mailConfig(), 'dan@example.com', 'Down', 'Body.'), log));
    expect(Date.now() - started).toBeLessThan(2000);

    expect(await s.runOnce()).toBe(1);
    let row = await outboxRow(t.db, id);
    expect(row.attempts).toBe(1);
    expect(row.next_attempt_at.getTime() - clock.now().getTime()).toBe(30_000);
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(row.text_body).not.toBeNull();
    expect(lines()).toMatch(/mail not sent \(.*ECONNREFUSED.*\); will retry/);

    expect(await s.runOnce()).toBe(0); // not due yet
    clock.advance(30);
    expect(await s.runOnce()).toBe(1);
    row = await outboxRow(t.db, id);
    expect(row.attempts).toBe(2);
    expect(row.next_attempt_at.getTime() - clock.now().getTime()).toBe(60_000);

    const server = await smtp({ port });
    clock.advance(59);
    expect(await s.runOnce()).toBe(0);
    clock.advance(1);
    expect(await s.runOnce()).toBe(1);
    expect((await server.waitFor(1)).map((m) => m.headers.subject)).toEqual(['Down (Acme Sign-in)']);
    row = await outboxRow(t.db, id);
    expect(row).toMatchObject({ attempts: 3, sent_at: clock.now(), text_body: null, html_body: null });
  });

  it('gives up after the last attempt with a log line, keeping the error and dropping the bodies', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    const s = sender(`smtp://127.0.0.1:${port}`, clock, log);
    const id = await queued(enqueueMail(t.db, clock, noticeMail(mailConfig(), 'erin@example.com', 'Never', 'Body.'), log));
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      expect(await s.runOnce()).toBe(1);
      clock.advance(retryDelaySeconds(attempt));
    }
    expect(await s.runOnce()).toBe(0);
    const row = await outboxRow(t.db, id);
    expect(row).toMatchObject({ attempts: MAX_ATTEMPTS, sent_at: null, text_body: null, html_body: null });
    expect(row.given_up_at).not.toBeNull();
    expect(row.last_error).toMatch(/ECONNREFUSED/);
    expect(lines()).toContain(`mail given up after ${MAX_ATTEMPTS} attempt(s)`);
    // 30 s doubling, capped at an hour.
    expect([1, 2, 3, 7, 8, 12].map(retryDelaySeconds)).toEqual([30, 60, 120, 1920, 3600, 3600]);
  });

  it('does not send a reset link that expired while the server was down', async () => {
    const server = await smtp();
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    const id = await queued(enqueueMail(t.db, clock, passwordResetMail(mailConfig(), 'fay@example.com', oneTimeToken(), clock.now()), log));
    clock.advance(30 * 60);
    expect(await sender(`smtp://127.0.0.1:${server.port}`, clock, log).runOnce()).toBe(1);
    const row = await outboxRow(t.db, id);
    expect(row.given_up_at).toEqual(clock.now());
    expect(row.text_body).toBeNull();
    expect(server.connections).toBe(0);
    expect(lines()).toContain('its link expired before it could be sent');
  });

  it('with a server that accepts but stalls: enqueue stays fast and a stop returns within its grace, handing the mail back', async () => {
    const server = await smtp();
    server.stall = true;
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    const s = sender(`smtp://127.0.0.1:${server.port}`, clock, log, t.db, 500);
    s.start();
    const id = await queued(enqueueMail(t.db, clock, noticeMail(mailConfig(), 'gus@example.com', 'Slow', 'Body.'), log));
    await server.waitForStall();

    const started = Date.now();
    await queued(enqueueMail(t.db, clock, noticeMail(mailConfig(), 'hal@example.com', 'Also', 'Body.'), log));
    expect(Date.now() - started).toBeLessThan(2000);

    const stopping = Date.now();
    await s.stop();
    // 500 ms grace, then the send is cut off; a busy machine gets slack, the 8 s send timeout does not.
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect(lines()).toContain('mail send cut off by the stop');
    const row = await outboxRow(t.db, id);
    expect(row).toMatchObject({ attempts: 0, sent_at: null, next_attempt_at: clock.now() });
    expect(row.text_body).toContain('Body.');

    // Handed back untried, it goes out with the next sender once the server answers.
    server.stall = false;
    const next = sender(`smtp://127.0.0.1:${server.port}`, clock, log);
    expect(await next.runOnce()).toBe(2);
    expect((await server.waitFor(2)).map((m) => m.to[0]).sort()).toEqual(['gus@example.com', 'hal@example.com']);
  });

  it('two senders on one PostgreSQL database never deliver one mail twice', async () => {
    const database = await freshPostgresDatabase(await requirePostgresServer());
    const a = openPostgres(database.url);
    const b = openPostgres(database.url);
    cleanups.push(async () => {
      await a.close();
      await b.close();
      await database.drop();
    });
    const server = await smtp();
    const clock = new ManualClock();
    const url = `smtp://127.0.0.1:${server.port}`;
    const { log } = capturedLog();
    const senders = [a, b].map((h) => new MailSender({ db: h.db, clock, config: mailConfig(url), log }, { batch: 3, pollMs: 60_000, timeouts: TEST_TIMEOUTS }));
    const count = 30;
    for (let i = 0; i < count; i++) {
      await queued(enqueueMail(a.db, clock, noticeMail(mailConfig(), `user${i}@example.com`, `Mail ${i}`, 'Body.'), log));
    }
    // Both claim at once, again and again, until nothing is left.
    for (let round = 0; round < count; round++) {
      const claimed = await Promise.all([...senders, ...senders].map((s) => s.runOnce()));
      if (claimed.every((n) => n === 0)) break;
    }
    const received = await server.waitFor(count);
    expect(received).toHaveLength(count);
    expect(new Set(received.map((m) => m.headers.subject)).size).toBe(count);
    const rows = await a.db.selectFrom('mail_outbox').select(['attempts', 'sent_at']).execute();
    expect(rows.every((r) => r.sent_at !== null && r.attempts === 1)).toBe(true);
  });

  it('without LATCH_SMTP_URL mail is off: no sender starts', async () => {
    const config = mailConfig();
    expect(mailConfigured(config)).toBe(false);
    expect(mailConfigured(mailConfig('smtp://127.0.0.1:25'))).toBe(true);
    const { log, lines } = capturedLog();
    const stop = startMailSender({ db: t.db, clock: new ManualClock(), config, log });
    await stop();
    expect(lines()).toContain('e-mail off (LATCH_SMTP_URL unset)');
    expect(() => new MailSender({ db: t.db, clock: new ManualClock(), config, log })).toThrow(/LATCH_SMTP_URL/);
  });
});

describe('mail logs', () => {
  it('never carry the SMTP password, the bodies or their one-time links', async () => {
    const password = 'S3cret pass/word%!';
    const server = await smtp({ auth: { user: 'mailer', pass: password } });
    const clock = new ManualClock();
    const { log, lines } = capturedLog();
    const good = `smtp://mailer:${encodeURIComponent(password)}@127.0.0.1:${server.port}`;
    const token = oneTimeToken();

    const stop = startMailSender({ db: t.db, clock, config: mailConfig(good), log }, { pollMs: 60_000, timeouts: TEST_TIMEOUTS });
    cleanups.push(stop);
    const sent = await queued(enqueueMail(t.db, clock, passwordResetMail(mailConfig(), 'ivy@example.com', token, clock.now()), log));
    const [mail] = await server.waitFor(1);
    expect(mail!.text).toContain(token);
    await stop();
    expect((await outboxRow(t.db, sent)).sent_at).not.toBeNull();

    // A wrong password and a dead server: both failures logged and recorded.
    const wrongPassword = 'Wr0ng-Passw0rd';
    const refused = await queued(enqueueMail(t.db, clock, passwordResetMail(mailConfig(), 'jo@example.com', oneTimeToken(), clock.now()), log));
    await sender(`smtp://mailer:${wrongPassword}@127.0.0.1:${server.port}`, clock, log).runOnce();
    expect((await outboxRow(t.db, refused)).last_error).toMatch(/EAUTH/);
    clock.advance(30);
    await sender(`smtp://mailer:${wrongPassword}@127.0.0.1:${await freePort()}`, clock, log).runOnce();

    const text = lines();
    expect(text).toContain('mail sent');
    expect(text).toMatch(/EAUTH.*will retry/);
    expect(text).toMatch(/ECONNREFUSED.*will retry/);
    expect(text).toContain(`e-mail through smtp://127.0.0.1:${server.port}`);
    const rows = JSON.stringify(await t.db.selectFrom('mail_outbox').select(['last_error']).execute());
    for (const secret of [password, encodeURIComponent(password), wrongPassword, token, 'reset-password?token', 'Someone asked']) {
      expect(text).not.toContain(secret);
      expect(rows).not.toContain(secret);
    }
    // A config logged whole does not carry the password either.
    expect(JSON.stringify(mailConfig(good))).not.toContain(encodeURIComponent(password));
    expect(JSON.stringify(mailConfig(good))).not.toContain(password);
  });
});
