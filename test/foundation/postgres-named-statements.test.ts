import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { markPrepared } from '../../src/db/prepared.js';
import { runCompiled } from '../../src/store/compiled.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';

/**
 * On PostgreSQL the store's fixed statements run as named prepared statements
 * (src/db/pg-named-query.ts), described once per connection: later runs send
 * Bind, Execute and Sync alone and read rows with the kept description. On
 * PostgreSQL in either run (the PGlite run uses the local server).
 */
let database: { url: string; drop(): Promise<void> };
let h: DatabaseHandle;
/** Row descriptions and NoData answers PostgreSQL sent, over every connection of the pool. */
const described = { rows: 0, none: 0 };

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  h = openPostgres(database.url);
  h.pool!.on('connect', (client) => {
    const connection = (client as unknown as { connection: import('node:events').EventEmitter }).connection;
    connection.on('rowDescription', () => described.rows++);
    connection.on('noData', () => described.none++);
  });
  await sql`create table named_t (id int primary key, n int8, at timestamptz, tags text[], doc jsonb)`.execute(h.db);
});

afterAll(async () => {
  await h?.close();
  await database?.drop();
});

const SELECT = `select id, n, at, tags, doc, $2::text as echo from named_t where id = $1`;
const INSERT = `insert into named_t (id, n, at, tags, doc) values ($1, $2, $3, $4, $5)`;

describe("the store's fixed statements on PostgreSQL", () => {
  it('are described on their first run on a connection only, and read the same values as a plain query', async () => {
    const at = new Date('2031-05-06T07:08:09.123Z');
    await h.db.connection().execute(async (one) => {
      const before = { ...described };
      for (let i = 0; i < 4; i++) await runCompiled(one, INSERT, [400 + i, 12_345_678_901 + i, at, ['x', String(i)], JSON.stringify({ i })]);
      // The insert returns no rows: one NoData on the first run, nothing after.
      expect(described.none - before.none).toBe(1);
      const rows = [];
      for (let i = 0; i < 4; i++) rows.push(...(await runCompiled<Record<string, unknown>>(one, SELECT, [400 + i, `e${i}`])));
      expect(described.rows - before.rows).toBe(1);

      const plain = await sql<Record<string, unknown>>`select id, n, at, tags, doc, 'e' || (id - 400)::text as echo from named_t where id between 400 and 403 order by id`.execute(one);
      expect(rows).toEqual(plain.rows);
      expect(rows[3]).toMatchObject({ id: 403, n: 12_345_678_904, tags: ['x', '3'], doc: { i: 3 }, echo: 'e3' });
      expect((rows[0]!.at as Date).toISOString()).toBe(at.toISOString());
      // Each row its own object: a caller changing one does not change the next.
      rows[0]!.echo = 'changed';
      expect((await runCompiled<Record<string, unknown>>(one, SELECT, [400, 'e0']))[0]!.echo).toBe('e0');
      expect(await runCompiled(one, SELECT, [999, 'none'])).toEqual([]);
      expect(await runCompiled(one, SELECT, [401, null])).toEqual([expect.objectContaining({ id: 401, echo: null })]);
    });
  });

  it('report affected rows, and errors with their SQLSTATE, leaving the connection usable', async () => {
    const UPDATE = `update named_t set n = $1 where id >= $2 and id <= $3`;
    await h.db.connection().execute(async (one) => {
      markPrepared(UPDATE);
      // Kysely reads affected rows from the command tag: the same on the described run and after.
      for (const [n, last] of [[5, 401], [6, 402]]) {
        const result = await one.executeQuery(CompiledQuery.raw(UPDATE, [n, 400, last]));
        expect(result.numAffectedRows).toBe(BigInt(last! - 399));
      }
      expect((await sql<{ n: number }>`select sum(n)::int8 as n from named_t where id <= 402`.execute(one)).rows[0]!.n).toBe(18);
      for (let i = 0; i < 2; i++) {
        const err = await runCompiled(one, INSERT, [400, 1, null, null, null]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(pg.DatabaseError);
        expect(err).toMatchObject({ code: '23505', constraint: 'named_t_pkey' });
      }
      expect((await runCompiled<{ id: number }>(one, SELECT, [400, 'again']))[0]?.id).toBe(400);
    });
  });

  it('refuse a value pg cannot send, before PostgreSQL sees it, and go on', async () => {
    await h.db.connection().execute(async (one) => {
      await runCompiled(one, SELECT, [400, 'warm']);
      const unsendable = { toPostgres: () => { throw new Error('cannot be sent'); } };
      await expect(runCompiled(one, SELECT, [400, unsendable])).rejects.toThrow('cannot be sent');
      expect((await runCompiled<{ echo: string }>(one, SELECT, [400, 'after']))[0]?.echo).toBe('after');
    });
  });

  it('are refused by PostgreSQL, never read with stale columns, when a table changes under them', async () => {
    const STAR = `select * from named_star where id = $1`;
    await sql`create table named_star (id int primary key, a text)`.execute(h.db);
    await sql`insert into named_star values (1, 'one')`.execute(h.db);
    await h.db.connection().execute(async (one) => {
      expect(await runCompiled(one, STAR, [1])).toEqual([{ id: 1, a: 'one' }]);
      await sql`alter table named_star add column b int default 7`.execute(one);
      const err = await runCompiled(one, STAR, [1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: '0A000' });
    });
  });
});
