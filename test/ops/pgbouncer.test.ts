import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, requirePostgresServer, withDatabase } from '../helpers/db.js';
import { freePort, latchJson, PROCESS_READY_MS, PROCESS_TEST_MS, startServer, type RunningServer } from '../helpers/server.js';

/**
 * latch behind PgBouncer in transaction pooling, as the README's Scaling section
 * advises: Debian's PgBouncer (1.18) keeps no prepared statements across
 * transactions, so latch runs with LATCH_PREPARED_STATEMENTS=off, and LISTEN goes
 * to PostgreSQL directly (LATCH_LISTEN_DATABASE_URL). Few server connections
 * behind many client ones, so consecutive statements of one latch connection
 * land on different server sessions.
 */
const PGBOUNCER = '/usr/sbin/pgbouncer';

describe('latch through PgBouncer in transaction pooling', () => {
  let serverUrl: string;
  let name: string;
  let dir: string;
  let bouncer: ChildProcess | undefined;
  let bouncerLog = '';
  let server: RunningServer | undefined;
  let env: NodeJS.ProcessEnv;
  let basic: string;

  beforeAll(async () => {
    if (!existsSync(PGBOUNCER)) throw new Error(`this test needs PgBouncer at ${PGBOUNCER} (Debian's pgbouncer package; .ci/run installs it)`);
    serverUrl = await requirePostgresServer();
    name = `latch_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(serverUrl, `create database ${name}`);
    const direct = new URL(withDatabase(serverUrl, name));

    // PgBouncer refuses to run as root; as root it is told to switch to the postgres user, who must read its files.
    dir = mkdtempSync(join(tmpdir(), 'latch-pgbouncer-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(direct.username) || 'postgres'}" ""\n`, { mode: 0o644 });
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `${name} = host=${direct.hostname} port=${direct.port || 5432} dbname=${name}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'users.txt')}`,
        'pool_mode = transaction',
        'default_pool_size = 3',
        'max_client_conn = 200',
        'ignore_startup_parameters = extra_float_digits,options',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    const asRoot = process.getuid?.() === 0;
    bouncer = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
    bouncer.stdout!.on('data', (d) => (bouncerLog += d));
    bouncer.stderr!.on('data', (d) => (bouncerLog += d));
    const pooled = new URL(direct);
    pooled.port = String(port);
    pooled.hostname = '127.0.0.1';
    const deadline = Date.now() + PROCESS_READY_MS;
    for (;;) {
      if (bouncer.exitCode !== null) throw new Error(`PgBouncer exited at start:\n${bouncerLog}`);
      const probe = new pg.Client({ connectionString: pooled.href, connectionTimeoutMillis: 2000 });
      const up = await probe.connect().then(
        () => probe.query('select 1').then(() => true),
        () => false,
      );
      await probe.end().catch(() => {});
      if (up) break;
      if (Date.now() > deadline) throw new Error(`PgBouncer did not accept connections; it printed:\n${bouncerLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    env = {
      DATABASE_URL: pooled.href,
      LATCH_PREPARED_STATEMENTS: 'off',
      LATCH_LISTEN_DATABASE_URL: direct.href,
      LATCH_COOKIE_SECRET: randomBytes(32).toString('hex'),
      LATCH_KEY_SECRET: randomBytes(32).toString('hex'),
    };
    // The server migrates the empty database through the pooler (the migration lock is transaction-scoped).
    server = await startServer(env);
    latchJson(env, ['user', 'create', '--username', 'pat', '--password', 'correct horse battery']);
    const client = latchJson(env, ['client', 'create', '--name', 'Pooled', '--redirect-uri', 'https://pooled.example/cb', '--grant-types', 'client_credentials,password,refresh_token']);
    basic = 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64');
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await server?.stop();
    if (bouncer && bouncer.exitCode === null) {
      const exited = once(bouncer, 'exit');
      process.kill(bouncer.pid!, 'SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (name) await adminQuery(serverUrl, `drop database if exists ${name} with (force)`);
  }, PROCESS_TEST_MS);

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${server!.url}${path}`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });

  it('issues, introspects and revokes tokens, 40 requests at once over 3 server connections', async () => {
    const issued = await Promise.all(Array.from({ length: 40 }, () => post('/oauth/token', { grant_type: 'client_credentials' })));
    expect(issued.map((r) => r.status)).toEqual(Array(40).fill(200));
    const tokens: string[] = await Promise.all(issued.map(async (r) => (await r.json()).access_token));
    const seen = await Promise.all(tokens.map((token) => post('/oauth/introspect', { token }).then((r) => r.json())));
    expect(seen.every((s) => s.active === true)).toBe(true);
    expect((await post('/oauth/revoke', { token: tokens[0]! })).status).toBe(200);
    expect(await (await post('/oauth/introspect', { token: tokens[0]! })).json()).toEqual({ active: false });
    expect((await (await post('/oauth/introspect', { token: tokens[1]! })).json()).active).toBe(true);
  }, PROCESS_TEST_MS);

  it('rotates refresh tokens in sequence, and of concurrent rotations of one token exactly one wins', async () => {
    const first = await (await post('/oauth/token', { grant_type: 'password', username: 'pat', password: 'correct horse battery' })).json();
    expect(first.refresh_token).toBeTruthy();
    let current = first.refresh_token as string;
    for (let i = 0; i < 10; i++) {
      const r = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: current });
      expect(r.status).toBe(200);
      current = (await r.json()).refresh_token;
    }
    const racing = await Promise.all(Array.from({ length: 6 }, () => post('/oauth/token', { grant_type: 'refresh_token', refresh_token: current })));
    expect(racing.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400]);
  }, PROCESS_TEST_MS);

  it('keeps LISTEN on a connection of its own, straight to PostgreSQL, beside at most 3 pooled server sessions', async () => {
    const observer = new pg.Client({ connectionString: withDatabase(serverUrl, name), application_name: 'latch test observer' });
    await observer.connect();
    try {
      const { rows } = await observer.query<{ application_name: string; query: string }>(
        `select application_name, query from pg_stat_activity
         where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()`,
        [name],
      );
      const listener = rows.filter((r) => r.application_name === 'latch listener');
      expect(listener).toHaveLength(1);
      expect(listener[0]!.query).toMatch(/^listen \w+$/);
      // Everything else is PgBouncer's pool, however many connections latch's own pool holds.
      expect(rows.length - 1).toBeGreaterThan(0);
      expect(rows.length - 1).toBeLessThanOrEqual(3);
    } finally {
      await observer.end();
    }
  });
});
