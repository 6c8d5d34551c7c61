import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { metrics } from '../../src/metrics.js';
import { useTestContext, testConfig } from '../helpers/app.js';
import { sample } from '../helpers/prometheus.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';

describe('GET /metrics', () => {
  const t = useTestContext();
  const scrape = async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    return r.body;
  };

  it('answers in the Prometheus text format', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('# TYPE latch_http_requests_total counter');
    expect(r.body).toContain('# TYPE latch_http_request_duration_seconds histogram');
    expect(r.body).toContain('process_resident_memory_bytes');
  });

  it('counts requests by route pattern, method and status', async () => {
    const before = sample(await scrape(), 'latch_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }) ?? 0;
    for (let i = 0; i < 3; i++) await t.app.inject({ method: 'GET', url: '/healthz' });
    const after = sample(await scrape(), 'latch_http_requests_total', { route: '/healthz', method: 'GET', status: '200' });
    expect(after).toBe(before + 3);
  });

  it('puts every unknown path under one label, so scanning cannot grow the series', async () => {
    for (let i = 0; i < 5; i++) await t.app.inject({ method: 'GET', url: `/probe-${i}-${Math.random()}` });
    const text = await scrape();
    expect(sample(text, 'latch_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(5);
    expect(text).not.toContain('probe-');
  });

  it('records a latency histogram per route', async () => {
    await t.app.inject({ method: 'GET', url: '/readyz' });
    const text = await scrape();
    const count = sample(text, 'latch_http_request_duration_seconds_count', { route: '/readyz', method: 'GET' });
    const inf = sample(text, 'latch_http_request_duration_seconds_bucket', { route: '/readyz', method: 'GET', le: '+Inf' });
    expect(count).toBeGreaterThanOrEqual(1);
    expect(inf).toBe(count);
    expect(sample(text, 'latch_http_request_duration_seconds_bucket', { route: '/readyz', method: 'GET', le: '0.015' })).toBeDefined();
  });

  it('counts tokens issued by grant type and refresh token reuse, from real token requests', async () => {
    const client = await makeClient(t);
    const user = await makeUser(t);
    const token = (body: Record<string, string>) => clientPost(t.app, '/oauth/token', body, asAuth(client));
    const read = async () => {
      const text = await scrape();
      return {
        clientCredentials: sample(text, 'latch_tokens_issued_total', { grant: 'client_credentials' }) ?? 0,
        password: sample(text, 'latch_tokens_issued_total', { grant: 'password' }) ?? 0,
        refresh: sample(text, 'latch_tokens_issued_total', { grant: 'refresh_token' }) ?? 0,
        reuse: sample(text, 'latch_refresh_token_reuse_total') ?? 0,
      };
    };
    const before = await read();
    expect((await token({ grant_type: 'client_credentials' })).statusCode).toBe(200);
    expect((await token({ grant_type: 'client_credentials' })).statusCode).toBe(200);
    const first = await token({ grant_type: 'password', username: user.username, password: user.password });
    expect(first.statusCode).toBe(200);
    const refresh = first.json().refresh_token;
    expect((await token({ grant_type: 'refresh_token', refresh_token: refresh })).statusCode).toBe(200);
    // The same refresh token again is reuse: refused, and counted.
    expect((await token({ grant_type: 'refresh_token', refresh_token: refresh })).statusCode).toBe(400);
    // A refused request issues nothing.
    expect((await token({ grant_type: 'password', username: user.username, password: 'wrong password!' })).statusCode).toBe(400);
    expect(await read()).toEqual({
      clientCredentials: before.clientCredentials + 2,
      password: before.password + 1,
      refresh: before.refresh + 1,
      reuse: before.reuse + 1,
    });
  });

  it('exports the sign-in throttling counter', async () => {
    const before = sample(await scrape(), 'latch_login_throttled_total') ?? 0;
    metrics.loginThrottled.inc();
    expect(sample(await scrape(), 'latch_login_throttled_total')).toBe(before + 1);
  });

  it('exports the use of the PostgreSQL pool it is given', async () => {
    // A pool that has connected nowhere yet: every gauge reads zero. (pg connects lazily.)
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:9/none' });
    const app = await buildApp(
      { config: testConfig(), db: t.db, clock: new ManualClock(), cookieSecret: 'x'.repeat(32), pool },
      { logger: false },
    );
    try {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(text, 'latch_db_pool_connections')).toBe(0);
      expect(sample(text, 'latch_db_pool_idle')).toBe(0);
      expect(sample(text, 'latch_db_pool_waiting')).toBe(0);
    } finally {
      await app.close();
      await pool.end();
    }
    if (t.handle.pool) {
      // On PostgreSQL the test app's own pool has served queries by now.
      await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(sample(await scrape(), 'latch_db_pool_connections')).toBeGreaterThanOrEqual(1);
    } else {
      expect(await scrape()).not.toContain('latch_db_pool_connections');
    }
  });
});
