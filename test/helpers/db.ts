import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { openEmbedded, openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export interface TestDatabase extends DatabaseHandle {
  /** The connection string of this file's own database (PostgreSQL only). */
  url: string | undefined;
}

export const onPostgres = (): boolean => inject('postgresUrl') !== undefined;

/**
 * A migrated database of this test file's own: on PostgreSQL a fresh database
 * (dropped by close), on PGlite a fresh in-memory instance from the migrated dump.
 */
export async function testDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl');
  if (!serverUrl) {
    const dump = readFileSync(inject('pgliteDump')!);
    const handle = await openEmbedded(null, { loadDataDir: new Blob([dump]) });
    return { ...handle, url: undefined };
  }
  const name = `latch_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `create database ${name}`);
  const url = withDatabase(serverUrl, name);
  const handle = openPostgres(url);
  await migrateToLatest(handle.db);
  return {
    ...handle,
    url,
    close: async () => {
      await handle.close();
      await adminQuery(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

export function withDatabase(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** One statement on `serverUrl` over a connection of its own (create or drop a database). */
export async function adminQuery(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** The local PostgreSQL CI always runs, for tests that need a real server even in the PGlite run. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A PostgreSQL server for tests that need one whatever the run's database: the
 * run's own, else the local one. Fails (never skips) with a clear message when none answers.
 */
export async function requirePostgresServer(): Promise<string> {
  const url = inject('postgresUrl') ?? process.env.TEST_DATABASE_URL ?? LOCAL_POSTGRES_URL;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(
      `this test needs a PostgreSQL server and none answered at ${new URL(url).host} (${(err as Error).message}); ` +
        'start the local one (see .ci/run) or set TEST_DATABASE_URL',
    );
  } finally {
    await client.end().catch(() => {});
  }
  return url;
}

/** A fresh migrated database on `serverUrl`, dropped by `drop()`. */
export async function freshPostgresDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `latch_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(serverUrl, `create database ${name}`);
  const url = withDatabase(serverUrl, name);
  const handle = openPostgres(url);
  try {
    await migrateToLatest(handle.db);
  } finally {
    await handle.close();
  }
  return { url, drop: () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`) };
}
