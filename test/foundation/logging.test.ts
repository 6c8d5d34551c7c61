import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import pino from 'pino';
import { loggerOptions, maskUrl } from '../../src/logger.js';
import { requestLogger } from '../../src/web/request-logger.js';
import { useTestContext } from '../helpers/app.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';

const t = useTestContext();
let app: FastifyInstance;
let lines = '';

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines += chunk.toString();
      done();
    },
  });
  app = await buildApp(
    { config: t.config, db: t.db, clock: t.clock, cookieSecret: 'x'.repeat(32) },
    { logger: { ...(loggerOptions('trace') as object), stream } },
  );
});
afterAll(() => app.close()); // before the context closes: after-hooks run in reverse order

describe('logs', () => {
  it('never carry passwords, client secrets, tokens, codes, Authorization headers or cookies', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t);
    const tokenResponse = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic(client.client_id, client.secret), cookie: 'latch_session=cookie-value-123' },
      payload: { grant_type: 'password', username: user.username, password: user.password },
    });
    const { access_token, refresh_token } = tokenResponse.json();
    await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${access_token}` } });
    await app.inject({ method: 'GET', url: `/oauth/authorize?code=latch_ac_secretcode&access_token=${access_token}&state=s` });
    await app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token: refresh_token, client_id: client.client_id, client_secret: client.secret } });

    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [user.password, client.secret, access_token, refresh_token, 'latch_ac_secretcode', 'cookie-value-123']) {
      expect(lines).not.toContain(secret);
    }
    expect(lines).not.toMatch(/"authorization"/i);
    expect(lines).toContain('[REDACTED]');
  });

  it("carry each request's own reqId", async () => {
    const before = lines.length;
    await app.inject({ method: 'GET', url: '/healthz' });
    await app.inject({ method: 'GET', url: '/healthz' });
    const ids = lines
      .slice(before)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).reqId as string | undefined);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(2);
  });

  it("make a request's child logger only when the request logs", () => {
    let written = '';
    const stream = new Writable({ write: (chunk, _e, done) => ((written += chunk.toString()), done()) });
    const parent = pino({ ...(loggerOptions('info') as object) }, stream);
    let children = 0;
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<typeof child>) => (children++, child(...args))) as typeof parent.child;

    const log = requestLogger.call(null as never, parent, { reqId: 'req-a' }, {}, undefined as never);
    expect(log.level).toBe('info');
    log.debug('not written');
    expect(children).toBe(0);
    log.info({ token: 'secret-value' }, 'first');
    log.warn('second');
    expect(children).toBe(1);
    const written2 = written.trim().split('\n').map((l) => JSON.parse(l));
    expect(written2.map((l) => [l.reqId, l.msg])).toEqual([['req-a', 'first'], ['req-a', 'second']]);
    expect(written).not.toContain('secret-value');
    // A route's own level gets a real child at once.
    const routeLevel = requestLogger.call(null as never, parent, { reqId: 'req-b' }, { level: 'debug' }, undefined as never);
    expect(children).toBe(2);
    expect(routeLevel.level).toBe('debug');
  });

  it('mask credential query parameters in logged URLs', () => {
    expect(maskUrl('/cb?code=abc&state=xyz&access_token=t#x')).toBe('/cb?code=[REDACTED]&state=xyz&access_token=[REDACTED]#x');
  });
});
