import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { testConfig } from '../helpers/app.js';

/** A pino logger whose lines the test reads back. */
export function capturedLog(): { log: ReturnType<typeof pino>; lines: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines: () => out };
}

/** A config sending through `smtpUrl` (none: no e-mail), with a recognisable site name and sender. */
export function mailConfig(smtpUrl?: string) {
  return testConfig({
    ...(smtpUrl ? { LATCH_SMTP_URL: smtpUrl } : {}),
    LATCH_SITE_NAME: 'Acme Sign-in',
    LATCH_MAIL_FROM: 'auth@acme.test',
    LATCH_ISSUER: 'https://auth.acme.test',
  });
}

/** A one-time token as the reset flow will make them: 256 bits, base64url. */
export const oneTimeToken = (): string => randomBytes(32).toString('base64url');

export const outboxRow = (db: Kysely<Database>, id: string) =>
  db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** SMTP timeouts short enough for tests, long enough for a busy machine. */
export const TEST_TIMEOUTS = { connectionMs: 5000, greetingMs: 5000, socketMs: 5000, sendMs: 8000 };
