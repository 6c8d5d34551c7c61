import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbedded, openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { systemClock } from '../../src/clock.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { noticeMail } from '../../src/mail/templates.js';
import { serverStore, startServer, type ServerStore } from '../helpers/server.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { capturedLog, mailConfig } from './helpers.js';

let store: ServerStore;
let smtp: TestSmtpServer;

beforeAll(async () => {
  store = await serverStore();
  smtp = await startSmtpServer();
});
afterAll(async () => {
  await smtp?.close();
  await store?.dispose();
});

/** The server's own database, opened while no server holds it (PGlite allows one process). */
async function withDatabase<T>(fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = store.env.DATABASE_URL ? openPostgres(store.env.DATABASE_URL) : await openEmbedded(store.env.LATCH_DATA_DIR!);
  try {
    await migrateToLatest(handle.db);
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

describe('the server sends the outbox', () => {
  it('stops promptly while the mail server stalls, hands the mail back, and delivers it on the next start', async () => {
    const id = await withDatabase(async ({ db }) => {
      const r = await enqueueMail(db, systemClock, noticeMail(mailConfig(), 'pat@example.com', 'Queued', 'Queued before the start.'), capturedLog().log);
      if (!r.queued) throw new Error('not queued');
      return r.id;
    });
    const env = { ...store.env, LATCH_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, LATCH_SITE_NAME: 'Acme Sign-in' };

    smtp.stall = true;
    const first = await startServer(env, 90_000);
    await smtp.waitForStall(30_000).catch((err) => {
      throw new Error(`${(err as Error).message}; server said:\n${first.output()}`);
    });
    expect(first.output()).toContain(`e-mail through smtp://127.0.0.1:${smtp.port}`);
    const stopping = Date.now();
    const exit = await first.stop('SIGTERM');
    // The sender's grace is 2 s; the server's own deadline (10 s, exit 1) must not be what ended it.
    expect(exit.code, first.output()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(first.output()).toContain('mail send cut off by the stop');

    await withDatabase(async ({ db }) => {
      const row = await db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ attempts: 0, sent_at: null });
      expect(row.text_body).toContain('Queued before the start.');
    });

    smtp.stall = false;
    const second = await startServer(env, 90_000);
    try {
      const [mail] = await smtp.waitFor(1, 30_000).catch((err) => {
        throw new Error(`${(err as Error).message}; server said:\n${second.output()}`);
      });
      expect(mail!.headers.subject).toBe('Queued (Acme Sign-in)');
      expect(mail!.headers.from).toBe('"Acme Sign-in" <latch@localhost>');
      expect(mail!.text).toContain('Queued before the start.');
    } finally {
      expect((await second.stop('SIGTERM')).code).toBe(0);
    }
    expect(second.output()).toContain('mail sent');
    await withDatabase(async ({ db }) => {
      const row = await db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ attempts: 1, text_body: null, html_body: null });
      expect(row.sent_at).not.toBeNull();
    });
  }, 300_000);
});
