import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Kysely } from 'kysely';
import { ManualClock } from '../../src/clock.js';
import type { Database } from '../../src/db/schema.js';
import type { DatabaseHandle, Listening } from '../../src/db/database.js';
import { SOCKET_PORT } from '../../src/db/embedded-socket.js';
import { findClientForAuth, setClientCacheClock } from '../../src/store/clients.js';
import { watchClientChanges } from '../../src/store/client-changes.js';
import { testConfig } from '../helpers/app.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClient } from '../helpers/fixtures.js';

/**
 * The client cache on either database: it ages by the injected clock, and a change
 * written by another connection reaches it through the clients table's trigger.
 * The cache clock never moves here, so only a notice can make a change visible.
 * (Two processes, and a killed listener, are in client-changes-instances.test.ts.)
 */
let t: TestDatabase;
let watching: Listening;
let ups = 0;
const clock = new ManualClock();
const config = testConfig();
const silent = { info: () => {}, warn: () => {} };

/** Another connection to the same database: a second pool on PostgreSQL, a socket client of PGlite. */
let other: { query(text: string, values: unknown[]): Promise<unknown>; close(): Promise<void> };

beforeAll(async () => {
  t = await testDatabase();
  setClientCacheClock(t.db, clock);
  const observed: Pick<DatabaseHandle, 'listen'> = {
    listen: (channel, events) => t.listen(channel, { ...events, up: () => (ups++, events.up()) }),
  };
  watching = watchClientChanges(observed, silent);
  await vi.waitFor(() => expect(ups).toBe(1), { timeout: 30_000, interval: 20 });
  other = await otherConnection(t);
});

afterAll(async () => {
  await other?.close();
  await watching?.stop();
  await t?.close();
});

async function otherConnection(db: TestDatabase): Promise<typeof other> {
  if (db.url) {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    return { query: (text, values) => client.query(text, values), close: () => client.end() };
  }
  // The socket the server lends to the command line, here in a directory of its own.
  const dir = mkdtempSync(join(tmpdir(), 'latch-socket-'));
  const server = await db.embedded!.serveSocket(dir);
  const client = new pg.Client({ host: dirname(server.path), port: SOCKET_PORT, user: 'postgres', database: 'postgres' });
  await client.connect();
  return {
    query: (text, values) => client.query(text, values),
    close: async () => {
      await client.end();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function counting(db: Kysely<Database>) {
  const counter = { statements: 0 };
  const counted = db.withPlugin({
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      counter.statements++;
      return args.result;
    },
  });
  return { counted, counter };
}

describe('the client cache', () => {
  it('ages entries by the injected clock, not the wall clock', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    const { counted, counter } = counting(t.db);
    const cacheClock = new ManualClock();
    setClientCacheClock(counted, cacheClock);
    await findClientForAuth(counted, c.client_id);
    cacheClock.advance(0.9);
    await findClientForAuth(counted, c.client_id);
    expect(counter.statements).toBe(1);
    cacheClock.advance(0.2);
    await findClientForAuth(counted, c.client_id);
    expect(counter.statements).toBe(2);
  });

  it('drops a client that another connection suspended', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    expect((await findClientForAuth(t.db, c.client_id))!.status).toBe('active');
    await other.query(`update clients set status = 'suspended' where client_id = $1`, [c.client_id]);
    await vi.waitFor(async () => expect((await findClientForAuth(t.db, c.client_id))!.status).toBe('suspended'), { timeout: 10_000, interval: 10 });
  });

  it('drops a client whose secret another connection replaced, and one it deleted', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    const before = (await findClientForAuth(t.db, c.client_id))!.secret_digest;
    await other.query(`update clients set secret_digest = 'replaced' where client_id = $1`, [c.client_id]);
    await vi.waitFor(async () => expect((await findClientForAuth(t.db, c.client_id))!.secret_digest).toBe('replaced'), { timeout: 10_000, interval: 10 });
    expect(before).not.toBe('replaced');
    await other.query(`delete from clients where client_id = $1`, [c.client_id]);
    await vi.waitFor(async () => expect(await findClientForAuth(t.db, c.client_id)).toBeUndefined(), { timeout: 10_000, interval: 10 });
  });
});
