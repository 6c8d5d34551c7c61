import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { openEmbedded, type DatabaseHandle } from '../../src/db/database.js';
import { markPrepared, preparedName } from '../../src/db/prepared.js';
import { runCompiled } from '../../src/store/compiled.js';
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

describe("the store's fixed statements in embedded PGlite", () => {
  // A statement of the store's shape: run through runCompiled, so it is marked for preparing.
  const SELECT = `select id, n, at, tags, doc, $2::text as echo from thread_t where id = $1`;
  const INSERT = `insert into thread_t (id, n, at, tags) values ($1, $2, $3, $4)`;
  const prepared = async () =>
    (await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(h.db)).rows.map((r) => r.name);

  it('run as named prepared statements, with the same values as a plain query', async () => {
    const at = new Date('2031-05-06T07:08:09.123Z');
    await runCompiled(h.db, INSERT, [300, 12_345_678_901, at, ['x', 'y']]);
    await runCompiled(h.db, INSERT, [301, null, null, []]);
    expect(await prepared()).toEqual(expect.arrayContaining([preparedName(INSERT)]));

    const [row] = await runCompiled<Record<string, unknown>>(h.db, SELECT, [300, 'hello']);
    const plain = (await sql<Record<string, unknown>>`select id, n, at, tags, doc, ${'hello'}::text as echo from thread_t where id = ${300}`.execute(h.db)).rows[0];
    expect(row).toEqual(plain);
    expect(row).toMatchObject({ id: 300, n: 12_345_678_901, tags: ['x', 'y'], doc: null, echo: 'hello' });
    expect((row!.at as Date).toISOString()).toBe(at.toISOString());
    expect(await runCompiled(h.db, SELECT, [301, null])).toEqual([{ id: 301, n: null, at: null, tags: [], doc: null, echo: null }]);
    expect(await runCompiled(h.db, SELECT, [999, 'none'])).toEqual([]);
    expect(await prepared()).toEqual(expect.arrayContaining([preparedName(SELECT)]));
  });

  it('report affected rows, and errors with their SQLSTATE, leaving the session usable', async () => {
    const UPDATE = `update thread_t set n = $1 where id >= $2 and id <= $3`;
    markPrepared(UPDATE);
    const result = await h.db.executeQuery(CompiledQuery.raw(UPDATE, [5, 300, 301]));
    expect(result.numAffectedRows).toBe(2n);
    expect(await prepared()).toEqual(expect.arrayContaining([preparedName(UPDATE)]));
    const err = await runCompiled(h.db, INSERT, [300, 1, null, null]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err).toMatchObject({ code: '23505', constraint: 'thread_t_pkey' });
    expect((await runCompiled<{ id: number }>(h.db, SELECT, [300, 'again']))[0]?.id).toBe(300);
  });

  it('are prepared again when the session has dropped them', async () => {
    await runCompiled(h.db, SELECT, [300, 'before']);
    await sql`deallocate all`.execute(h.db);
    expect(await prepared()).toEqual([]);
    expect((await runCompiled<{ echo: string }>(h.db, SELECT, [300, 'after']))[0]?.echo).toBe('after');
    expect(await prepared()).toEqual([preparedName(SELECT)]);
  });

  it('stay prepared when the transaction that first ran them rolls back', async () => {
    const ONLY_HERE = `select count(*)::int as c from thread_t where id = $1 and n is not distinct from $2`;
    const failed = await h.db
      .transaction()
      .execute(async (trx) => {
        await runCompiled(trx, ONLY_HERE, [300, 5]);
        throw new Error('roll back');
      })
      .catch((e: Error) => e.message);
    expect(failed).toBe('roll back');
    expect(await prepared()).toEqual(expect.arrayContaining([preparedName(ONLY_HERE)]));
    // Inside a transaction a missing statement could not be prepared again: it must still be there.
    const inside = await h.db.transaction().execute((trx) => runCompiled<{ c: number }>(trx, ONLY_HERE, [300, 5]));
    expect(inside).toEqual([{ c: 1 }]);
  });
});
