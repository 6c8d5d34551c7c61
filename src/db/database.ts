import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { PGliteDialect } from './pglite-dialect.js';
import { acquireEmbeddedLock } from './embedded-lock.js';
import { preparedName } from './prepared.js';

// int8 (count(*), sums) as a number, as PGlite gives it, so both modes read alike.
pg.types.setTypeParser(20, (v) => Number(v));

export type DatabaseMode = 'postgres' | 'embedded';

export interface DatabaseHandle {
  db: Kysely<Database>;
  mode: DatabaseMode;
  /** Present in postgres mode, for pool metrics. */
  pool?: pg.Pool;
  /** Present in embedded mode. */
  pglite?: PGlite;
  close(): Promise<void>;
}

export interface PostgresOptions {
  /** Pool size; the default suits a small machine. */
  max?: number;
  /** How long a request may wait for a connection before failing (ms). */
  connectionTimeoutMillis?: number;
}

export function openPostgres(url: string, options: PostgresOptions = {}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 2000,
    // A statement that hangs because the server went away must not hold a request forever.
    query_timeout: 5000,
  });
  // An idle client losing its server emits here; without a listener the process would die.
  pool.on('error', () => {});
  // pg-pool listens for errors only on idle clients. A client checked out when its
  // server vanishes emits 'error' with no listener, which would kill the process;
  // its query is rejected anyway, and that is how the request learns of it.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    usePreparedStatements(client);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, mode: 'postgres', pool, close: () => db.destroy() };
}

/** Runs the statements marked in ./prepared.ts as named prepared statements on this connection. */
function usePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof config === 'string' && Array.isArray(values) ? preparedName(config) : undefined;
    if (name) return query({ name, text: config, values }, callback);
    return query(config, values, callback);
  };
}

/**
 * Opens PGlite in `dataDir` (or in memory when null). A directory is locked for
 * this process while open; `loadDataDir` starts from a dump (tests use it to skip initdb).
 */
export async function openEmbedded(dataDir: string | null, loadDataDir?: Blob): Promise<DatabaseHandle> {
  const unlock = dataDir ? acquireEmbeddedLock(dataDir) : () => {};
  let pglite: PGlite;
  try {
    // Loaded only in embedded mode: a server on PostgreSQL does not carry it in memory.
    const { PGlite } = await import('@electric-sql/pglite');
    pglite = await PGlite.create(dataDir ? `${dataDir}/pgdata` : undefined, loadDataDir ? { loadDataDir } : {});
  } catch (err) {
    unlock();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    mode: 'embedded',
    pglite,
    close: async () => {
      await db.destroy();
      await pglite.close();
      unlock();
    },
  };
}

export async function openDatabase(config: { databaseUrl?: string; dataDir: string }): Promise<DatabaseHandle> {
  return config.databaseUrl ? openPostgres(config.databaseUrl) : openEmbedded(config.dataDir);
}

/** Answers within `timeoutMs` either way, so a readiness probe never hangs on a dead server. */
export async function ping(db: Kysely<Database>, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs);
  });
  try {
    await Promise.race([sql`select 1`.execute(db), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
