import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { openEmbedded, type DatabaseHandle } from '../../src/db/database.js';
import { PROCESS_TEST_MS } from '../helpers/server.js';

/**
 * Embedded PGlite runs in a worker thread (src/db/pglite-worker.ts): what
 * crosses the thread must arrive as it did when PGlite shared the event loop,
 * and the event loop must stay free while PGlite works. Embedded in either run.
 */
let h: DatabaseHandle;

beforeAll(async () => {
  h = await openEmbedded(null);
  await sql`create table thread_t (id int primary key, n int8, at timestamptz, tags text[], doc jsonb)`.execute(h.db);
}, PROCESS_TEST_MS);

afterAll(async () => {
  await h?.close();
});

describe('embedded PGlite in its own thread', () => {
  it('hands back int8 as a number, timestamptz as a Date, arrays and jsonb as themselves', async () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    await sql`insert into thread_t values (1, ${9_007_199_254}, ${at}, ${['a', 'b']}, ${JSON.stringify({ k: [1, 'x'] })})`.execute(h.db);
    const row = (await sql<{ n: number; at: Date; tags: string[]; doc: unknown; c: number }>`select n, at, tags, doc, (select count(*) from thread_t) as c from thread_t where id = 1`.execute(h.db)).rows[0]!;
    expect(row.n).toBe(9_007_199_254);
    expect(row.at).toBeInstanceOf(Date);
    expect(row.at.toISOString()).toBe(at.toISOString());
    expect(row.tags).toEqual(['a', 'b']);
    expect(row.doc).toEqual({ k: [1, 'x'] });
    expect(row.c).toBe(1);
  });

  it('reports affected rows to Kysely', async () => {
    const inserted = await h.db.insertInto('thread_t' as never).values({ id: 2 } as never).executeTakeFirst();
    expect(inserted.numInsertedOrUpdatedRows).toBe(1n);
    const updated = await sql`update thread_t set n = 7 where id in (1, 2)`.execute(h.db);
    expect(updated.numAffectedRows).toBe(2n);
  });

  it('delivers PostgreSQL errors with their SQLSTATE, constraint and detail', async () => {
    const err = await sql`insert into thread_t (id) values (1)`.execute(h.db).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err).toMatchObject({ code: '23505', constraint: 'thread_t_pkey', detail: 'Key (id)=(1) already exists.' });
    expect((err as Error).message).toContain('duplicate key value violates unique constraint "thread_t_pkey"');
    // The session is usable afterwards.
    expect((await sql<{ one: number }>`select 1 as one`.execute(h.db)).rows).toEqual([{ one: 1 }]);
  });

  it('never runs a statement from outside a transaction inside it', async () => {
    let outside: Promise<number> | undefined;
    const failed = await h.db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into thread_t (id) values (100)`.execute(trx);
        // Sent while the transaction is open: inside it, it would see row 100.
        outside = sql<{ c: number }>`select count(*) as c from thread_t where id = 100`.execute(h.db).then((r) => r.rows[0]!.c);
        await sql`select pg_sleep(0.05)`.execute(trx);
        throw new Error('roll back');
      })
      .catch((e: Error) => e.message);
    expect(failed).toBe('roll back');
    expect(await outside).toBe(0);
  });

  it('runs concurrent transactions one after another', async () => {
    const counts = await Promise.all(
      [200, 201, 202, 203].map((id) =>
        h.db.transaction().execute(async (trx) => {
          const before = (await sql<{ c: number }>`select count(*) as c from thread_t where id >= 200`.execute(trx)).rows[0]!.c;
          await sql`insert into thread_t (id) values (${id})`.execute(trx);
          return before;
        }),
      ),
    );
    expect([...counts].sort()).toEqual([0, 1, 2, 3]);
  });

  it('keeps the event loop free while PGlite works', async () => {
    // The longest gap between ticks of a 5 ms timer while one long statement runs.
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    await sql`select count(*) from generate_series(1, 3000000) g, lateral (select md5(g::text)) m`.execute(h.db);
    const took = performance.now() - started;
    // A stall shows when the timer finally fires: let it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(ticker);
    // In the event loop, the longest gap would be the statement itself.
    expect(took).toBeGreaterThan(300);
    expect(longest).toBeLessThan(took / 2);
  });
});
