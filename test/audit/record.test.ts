import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { AUDIT_ACTIONS, actionsMatching, OPERATOR } from '../../src/audit/events.js';
import { recordAudit, scrubDetails } from '../../src/audit/record.js';
import { loggerOptions } from '../../src/logger.js';
import { inTransaction } from '../../src/store/transaction.js';
import { useTestContext } from '../helpers/app.js';
import { makeUser } from '../helpers/fixtures.js';
import { lastEvent } from './helpers.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';

describe('scrubDetails', () => {
  it('drops keys named like secrets and values that look like one, at any depth', () => {
    const scrubbed = scrubDetails({
      reason: 'abuse',
      password: 'hunter2hunter2',
      new_password: 'x',
      client_secret: 'y',
      secret: 'z',
      access_token: 'a',
      refresh_token: 'b',
      token: 'c',
      code: 'd',
      code_verifier: 'e',
      totp_secret: 'f',
      recovery_codes: ['g'],
      password_hash: '$argon2id$v=19$...',
      private_key: 'k',
      cookie: 'latch_session=...',
      authorization: 'Basic abc',
      note: 'latch_at_abcdefghijklmnop',
      jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
      scopes: ['read', 'latch_rt_leak'],
      nested: { ok: 1, otp: '123456', deeper: { secretive: 'no', fine: true } },
    });
    expect(scrubbed).toEqual({ reason: 'abuse', scopes: ['read'], nested: { ok: 1, deeper: { fine: true } } });
  });

  it('every action is dotted, known, and a group selects its actions', () => {
    for (const a of AUDIT_ACTIONS) expect(a).toMatch(/^[a-z]+(\.[a-z_]+)?$/);
    expect(actionsMatching('signin.')).toEqual(['signin.success', 'signin.failure']);
    expect(actionsMatching('signout.')).toEqual(['signout']);
    expect(actionsMatching('client.approve')).toEqual(['client.approve']);
    expect(actionsMatching('client')).toBeNull();
    expect(actionsMatching('nothing.')).toBeNull();
  });
});

describe('the structured log line', () => {
  const t = useTestContext();
  let app: FastifyInstance;
  const lines: string[] = [];

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _e, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    // The server's own logger options: the audit line goes wherever the app logs.
    app = await buildApp({ config: t.config, db: t.db, clock: t.clock, cookieSecret: 'test-cookie-secret-0123456789abcdef' }, { logger: { ...(loggerOptions('info') as object), stream } });
    await app.ready();
  });
  afterAll(() => app.close()); // before the context closes: after-hooks run in reverse order

  const auditLines = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);

  it('each event is one line with audit: true and the event\'s fields, and never the password', async () => {
    const user = await makeUser(t, { password: 'a-password-never-logged' });
    const page = await app.inject({ method: 'GET', url: '/login' });
    const body = { _csrf: field(page.body, '_csrf')!, return_to: '/', username: user.username, password: 'a-password-never-logged' };
    const r = await app.inject({ method: 'POST', url: '/login', remoteAddress: '192.0.2.44', ...form(body), headers: { ...form(body).headers, cookie: cookiesFrom(page.headers['set-cookie']), 'user-agent': 'test-agent' } });
    expect(r.statusCode).toBe(303);
    const line = auditLines().find((l) => l.action === 'signin.success')!;
    expect(line).toMatchObject({
      audit: true,
      level: 30,
      action: 'signin.success',
      actor_kind: 'user',
      actor_id: user.id,
      actor: user.username,
      target: user.username,
      target_user_id: user.id,
      address: '192.0.2.44',
      user_agent: 'test-agent',
      outcome: 'success',
      at: t.clock.now().toISOString(),
    });
    expect(auditLines().find((l) => l.action === 'user.create')).toMatchObject({ actor: 'operator', target: user.username });
    expect(lines.join('\n')).not.toContain('a-password-never-logged');
    const row = (await lastEvent(t, 'signin.success'))!;
    expect(row.address).toBe(line.address);
  });

  it('a rolled-back transaction writes no row and no line; a committed one writes both after the commit', async () => {
    const before = auditLines().length;
    await expect(
      inTransaction(t.db, async (trx) => {
        await recordAudit(trx, { ...OPERATOR, at: t.clock.now(), action: 'key.rotate', details: { kid: 'k1' } });
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    expect(auditLines().length).toBe(before);
    expect(await lastEvent(t, 'key.rotate')).toBeUndefined();

    await inTransaction(t.db, async (trx) => {
      await recordAudit(trx, { ...OPERATOR, at: t.clock.now(), action: 'key.rotate', details: { kid: 'k2', private_key: 'PRIVATE' } });
      expect(auditLines().length).toBe(before);
    });
    expect(auditLines().slice(before)).toMatchObject([{ audit: true, action: 'key.rotate', details: { kid: 'k2' } }]);
    expect((await lastEvent(t, 'key.rotate'))!.details).toEqual({ kid: 'k2' });
    expect(lines.join('\n')).not.toContain('PRIVATE');
  });
});
