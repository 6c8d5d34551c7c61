import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { findClientByClientId } from '../../src/store/clients.js';
import { testConfig } from '../helpers/app.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * PostgreSQL goes away and comes back while latch runs: a TCP proxy the test
 * controls sits between them. These tests need a real PostgreSQL server even in
 * the PGlite run (see requirePostgresServer).
 */
let database: { url: string; drop(): Promise<void> };
let direct: DatabaseHandle;
let proxy: TcpProxy;
let proxiedUrl: string;
let client: Awaited<ReturnType<typeof makeClient>>;
let user: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  direct = openPostgres(database.url);
  const target = new URL(database.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const via = new URL(database.url);
  via.hostname = '127.0.0.1';
  via.port = String(proxy.port);
  proxiedUrl = via.toString();
  const ctx = { db: direct.db, clock: new ManualClock(Date.now()), config: testConfig() };
  client = await makeClient(ctx);
  user = await makeUser(ctx);
});

afterAll(async () => {
  await proxy?.close();
  await direct?.close();
  await database?.drop();
});

/** Times one request; the answer and how long it took. */
async function timed(url: string, init?: RequestInit) {
  const started = performance.now();
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  return { status: r.status, headers: r.headers, body, ms: performance.now() - started };
}

describe('a database outage, on the real server process', () => {
  let server: RunningServer;
  let accessToken: string;
  beforeAll(async () => {
    server = await startServer({ DATABASE_URL: proxiedUrl, LATCH_COOKIE_SECRET: 'o'.repeat(40), LATCH_KEY_SECRET: 'k'.repeat(40) });
  });
  afterAll(async () => {
    if (server) await server.stop('SIGTERM');
  });

  const tokenRequest = (body: Record<string, string>) =>
    timed(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
    });
  const introspectRequest = (token: string) =>
    timed(`${server.url}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
  const userinfo = (token: string) => timed(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  it('serves normally while the database answers', async () => {
    expect((await timed(`${server.url}/readyz`)).status).toBe(200);
    const r = await tokenRequest({ grant_type: 'password', username: user.username, password: user.password });
    expect(r.status).toBe(200);
    accessToken = JSON.parse(r.body).access_token;
    expect((await userinfo(accessToken)).status).toBe(200);
  });

  it('answers 503 temporarily_unavailable within 2 s on every endpoint while the database is away, and stays alive', async () => {
    proxy.cut();
    const ready = await timed(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(2000);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'unavailable', error: 'temporarily_unavailable' });

    const answers = await Promise.all([
      tokenRequest({ grant_type: 'client_credentials' }),
      tokenRequest({ grant_type: 'password', username: user.username, password: user.password }),
      introspectRequest(accessToken),
      userinfo(accessToken),
      // Many at once: none may wait in a queue for a connection that will not come.
      ...Array.from({ length: 20 }, () => tokenRequest({ grant_type: 'client_credentials' })),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.ms).toBeLessThan(2000);
      expect(a.headers.get('content-type')).toMatch(/^application\/json/);
      expect(JSON.parse(a.body)).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
      expect(a.headers.get('retry-after')).toBe('2');
      expect(a.body).not.toContain(client.secret);
    }
    // A page that needs the database (the authorization endpoint looks up the client) renders the error page.
    const page = await timed(
      `${server.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: 'https://app.example/callback', state: 's' })}`,
    );
    expect(page.status).toBe(503);
    expect(page.ms).toBeLessThan(2000);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('<p id="error-code" class="error-code">temporarily_unavailable</p>');
    // Liveness is about the process, not the database: an orchestrator must not kill it.
    expect((await timed(`${server.url}/healthz`)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });

  it('resumes by itself when the database is back, without a restart', async () => {
    proxy.restore();
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = (await timed(`${server.url}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready).toBe(200);
    expect((await tokenRequest({ grant_type: 'client_credentials' })).status).toBe(200);
    expect((await userinfo(accessToken)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
    // The process logged the outage without leaking credentials or stack traces.
    const log = server.output();
    expect(log).not.toContain(client.secret);
    expect(log).not.toContain(user.password);
    expect(log).not.toMatch(/\n\s+at /);
  });

  it('stops cleanly afterwards', async () => {
    const { code } = await server.stop('SIGTERM');
    expect(code).toBe(0);
  });
});

describe('a database outage, on a page', () => {
  it('renders the error page with 503 temporarily_unavailable', async () => {
    const handle = openPostgres(proxiedUrl);
    const app = await buildApp({ config: testConfig(), db: handle.db, clock: new ManualClock(), cookieSecret: 'x'.repeat(32) }, { logger: false });
    // A page that reads the database, as every page with a session or a client does.
    app.get('/outage-page', { config: { page: true } }, async (_req, reply) => {
      await findClientByClientId(handle.db, client.client_id);
      return reply.type('text/html').send('<p>fine</p>');
    });
    try {
      proxy.restore();
      expect((await app.inject({ method: 'GET', url: '/outage-page' })).statusCode).toBe(200);
      proxy.cut();
      const started = performance.now();
      const r = await app.inject({ method: 'GET', url: '/outage-page' });
      expect(performance.now() - started).toBeLessThan(2000);
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.body).toContain('<p id="error-code" class="error-code">temporarily_unavailable</p>');
      proxy.restore();
      expect((await app.inject({ method: 'GET', url: '/outage-page' })).statusCode).toBe(200);
    } finally {
      proxy.restore();
      await app.close();
      await handle.close();
    }
  });
});

describe('a network partition: the database stops answering without closing anything', () => {
  it('answers 503 within the pool\'s timeouts (2 s to connect, 5 s per query) and recovers', async () => {
    const handle = openPostgres(proxiedUrl);
    const app = await buildApp({ config: testConfig(), db: handle.db, clock: new ManualClock(), cookieSecret: 'x'.repeat(32), pool: handle.pool }, { logger: false });
    const issue = () =>
      app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      });
    try {
      proxy.restore();
      expect((await issue()).statusCode).toBe(200);
      proxy.hang();
      const started = performance.now();
      const answers = await Promise.all([issue(), issue(), app.inject({ method: 'GET', url: '/readyz' }), ...Array.from({ length: 12 }, issue)]);
      const elapsed = performance.now() - started;
      for (const r of answers) {
        expect(r.statusCode).toBe(503);
        expect(r.json().error).toBe('temporarily_unavailable');
      }
      // Bounded by the per-query timeout (5 s) plus scheduling, not by TCP's minutes.
      expect(elapsed).toBeLessThan(7000);
      proxy.restore();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await issue()).statusCode;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
    } finally {
      proxy.restore();
      await app.close();
      await handle.close();
    }
  }, 30_000);
});
