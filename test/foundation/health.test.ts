import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { openPostgres } from '../../src/db/database.js';
import { useTestContext, testConfig } from '../helpers/app.js';

describe('health endpoints', () => {
  const t = useTestContext();

  it('GET /healthz answers 200 while the process lives', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the database answers', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ready' });
  });

  it('GET /readyz answers 503 within two seconds when the database is unreachable', async () => {
    // Port 9 on loopback: nothing listens, so connecting fails as it would when PostgreSQL is down.
    const dead = openPostgres('postgres://postgres@127.0.0.1:9/none', { connectionTimeoutMillis: 500 });
    const app = await buildApp(
      { config: testConfig(), db: dead.db, clock: new ManualClock(), cookieSecret: 'x'.repeat(32) },
      { logger: false },
    );
    const started = Date.now();
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'unavailable', error: 'temporarily_unavailable' });
    await app.close();
    await dead.close();
  });

  it('answers unknown routes with a JSON 404 and security headers', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/no/such/thing' });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'not_found' });
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });
});
