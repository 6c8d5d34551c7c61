import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { ManualClock } from '../../src/clock.js';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { testConfig } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';
import { basic, makeClient } from '../helpers/fixtures.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/**
 * A client changed anywhere is seen by a running latch process at once, although
 * it caches clients: suspended at another process (here the CLI, in this test's
 * process, on its own pool), its token requests at the server are refused as soon
 * as PostgreSQL's notice arrives; a replaced secret fails there likewise. Also
 * when the server's LISTEN connection was killed, before and after it reconnects.
 */
let database: { url: string; drop(): Promise<void> };
let direct: DatabaseHandle;
let server: RunningServer;
let client: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  direct = openPostgres(database.url);
  client = await makeClient({ db: direct.db, clock: new ManualClock(Date.now()), config: testConfig() }, { grantTypes: ['client_credentials'] });
  server = await startServer({ DATABASE_URL: database.url, LATCH_COOKIE_SECRET: 'c'.repeat(40), LATCH_KEY_SECRET: 'k'.repeat(40) }, 120_000);
  await listenerPid();
}, 180_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  await direct?.close();
  await database?.drop();
});

/** bin/latch, run against the database the server uses: another process than the server. */
const latch = (...argv: string[]) => cli([...argv, '--json'], { openDb: async () => ({ ...direct, close: async () => {} }) });

const token = async (secret = client.secret) => {
  const r = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(client.client_id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return { status: r.status, error: ((await r.json()) as { error?: string }).error };
};

/** The server's listener connection, once it is listening (polled: the server may be slow to get there). */
async function listenerPid(not?: number): Promise<number> {
  let pid: number | undefined;
  await vi.waitFor(
    async () => {
      const r = await sql<{ pid: number }>`
        select pid from pg_stat_activity
        where datname = current_database() and application_name = 'latch listener' and query ilike 'listen%'`.execute(direct.db);
      pid = r.rows.map((row) => row.pid).find((p) => p !== not);
      if (pid === undefined) throw new Error(`no listener connection yet; server output:\n${server.output()}`);
    },
    { timeout: 60_000, interval: 50 },
  );
  return pid!;
}

async function waitForOutput(text: string, from: number): Promise<void> {
  await vi.waitFor(
    () => {
      if (!server.output().slice(from).includes(text)) throw new Error(`the server did not say "${text}"; it said:\n${server.output()}`);
    },
    { timeout: 60_000, interval: 20 },
  );
}

/**
 * The server's answer once PostgreSQL has delivered the change notice to it, which
 * takes milliseconds after the commit (the notice and the next request race on two
 * connections); without the notice the cached row would be used for a whole second.
 */
async function tokenSoon(expected: { status: number; error?: string }, secret = client.secret) {
  const deadline = Date.now() + 300;
  let answer = await token(secret);
  while ((answer.status !== expected.status || answer.error !== expected.error) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    answer = await token(secret);
  }
  return answer;
}
const REFUSED = { status: 400, error: 'invalid_application_status' };
const ISSUED = { status: 200, error: undefined };

/** The client is cached at the server: a request just now used it. */
async function warm(secret = client.secret) {
  expect((await token(secret)).status).toBe(200);
  expect((await token(secret)).status).toBe(200);
}

/** Suspends the client with bin/latch: refused here; reinstates it: issued again. */
async function suspendThenReinstate() {
  expect((await latch('client', 'suspend', client.client_id)).code).toBe(0);
  expect(await tokenSoon(REFUSED)).toEqual(REFUSED);
  expect((await latch('client', 'reinstate', client.client_id)).code).toBe(0);
  expect(await tokenSoon(ISSUED)).toEqual(ISSUED);
}

describe('a client changed at another process', () => {
  it('suspended there: refused here as soon as the notice arrives, not a cache lifetime later; reinstated: issued again', async () => {
    await warm();
    await suspendThenReinstate();
  });

  it('secret rotated there: the old secret fails here as soon as the notice arrives, the new one works', async () => {
    await warm();
    const rotated = await latch('client', 'rotate-secret', client.client_id);
    expect(rotated.code).toBe(0);
    const old = client.secret;
    client = { ...client, secret: rotated.json.client_secret };
    expect(await tokenSoon({ status: 401, error: 'invalid_client' }, old)).toEqual({ status: 401, error: 'invalid_client' });
    expect(await token()).toEqual(ISSUED);
  });

  it('with the listener connection killed, changes are still seen at once, and the listener comes back', async () => {
    await warm();
    const killed = await listenerPid();
    const from = server.output().length;
    await sql`select pg_terminate_backend(${killed})`.execute(direct.db);
    await waitForOutput('client change listener lost', from);
    // Until the listener is back the cache is not used: the suspension counts at once.
    await suspendThenReinstate();

    await listenerPid(killed);
    await waitForOutput('client change listener reconnected', from);
    await warm();
    await suspendThenReinstate();
  });

  it('the listener does not hold up a graceful stop', async () => {
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('stopped');
  });
});
