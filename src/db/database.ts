import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { PGliteDialect } from './pglite-dialect.js';
import { acquireEmbeddedLock, EmbeddedDatabaseBusyError } from './embedded-lock.js';
import { SOCKET_PORT, socketDirectory, socketPath } from './embedded-socket.js';
import { EmbeddedWorker } from './pglite-bridge.js';
import { existsSync } from 'node:fs';
import { preparedName } from './prepared.js';
import { namedQuery } from './pg-named-query.js';

// int8 (count(*), sums) as a number, as PGlite gives it, so both modes read alike.
pg.types.setTypeParser(20, (v) => Number(v));

export type DatabaseMode = 'postgres' | 'embedded';

export interface DatabaseHandle {
  db: Kysely<Database>;
  mode: DatabaseMode;
  /** Which database this is, for people: never a password. */
  description: string;
  /** Present in postgres mode, for pool metrics. */
  pool?: pg.Pool;
  /** Present in embedded mode. */
  embedded?: EmbeddedExtras;
  /**
   * Subscribes to NOTIFY on `channel`: on PostgreSQL over a dedicated connection
   * (never a pool's) that reconnects with backoff, telling `events` when it is
   * down and up again; in embedded mode through PGlite's own LISTEN.
   */
  listen(channel: string, events: ListenEvents): Listening;
  close(): Promise<void>;
}

export interface ListenEvents {
  notify(payload: string): void;
  /** Listening (again); notices sent while down were lost. */
  up(): void;
  /** Not listening: the connection failed or was lost. */
  down(err?: Error): void;
}

export interface Listening {
  /** Ends the subscription and its connection; leaves nothing to keep the process alive. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** Pool size; the default suits a small machine. */
  max?: number;
  /** How long a request may wait for a connection before failing (ms). */
  connectionTimeoutMillis?: number;
  /** Named prepared statements (./prepared.ts); off where the session is shared with someone else. */
  prepared?: boolean;
  /** Where LISTEN connects, when not `url`: a direct connection where `url` is a pooler in transaction mode. */
  listenUrl?: string;
}

export function openPostgres(url: string, options: PostgresOptions = {}): DatabaseHandle {
  return postgresHandle({ connectionString: url }, describePostgres(url), options);
}

/** host:port/database of a DATABASE_URL, leaving out the user and the password. */
export function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    const socketHost = u.searchParams.get('host');
    return `PostgreSQL ${socketHost ?? (u.host || 'localhost')}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return 'PostgreSQL (DATABASE_URL)';
  }
}

function postgresHandle(connection: pg.PoolConfig, description: string, options: PostgresOptions): DatabaseHandle {
  const pool = new pg.Pool({
    ...connection,
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
    if (options.prepared !== false) usePreparedStatements(client);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, mode: 'postgres', description, pool, listen: (channel, events) => listenPostgres(options.listenUrl ? { connectionString: options.listenUrl } : connection, channel, events), close: () => db.destroy() };
}

/** First and longest wait before connecting a lost listener again (ms); doubles in between. */
export const LISTEN_RETRY_MS = { first: 500, max: 30_000 };
const CHANNEL = /^[a-z_][a-z0-9_]*$/;

function listenPostgres(connection: pg.ClientConfig, channel: string, events: ListenEvents): Listening {
  if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
  let stopped = false;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const retry = () => {
    const wait = Math.min(LISTEN_RETRY_MS.first * 2 ** failures++, LISTEN_RETRY_MS.max);
    // Jitter, so instances that lost the database together do not return in step.
    timer = setTimeout(connect, wait * (0.75 + Math.random() / 2));
    timer.unref();
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    const client = new pg.Client({ ...connection, application_name: 'latch listener', keepAlive: true, connectionTimeoutMillis: 5000 });
    current = client;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      client.end().catch(() => {});
      if (stopped) return;
      events.down(err);
      retry();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel === channel) events.notify(n.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`listen ${channel}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (stopped || lost) return;
    failures = 0;
    events.up();
  }

  events.down();
  void connect();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      const client = current;
      if (!client) return;
      // A server that went silent must not hold up a stop: give it a moment, then drop the socket.
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([client.end().catch(() => {}), new Promise((r) => (deadline = setTimeout(r, 1000)))]);
      clearTimeout(deadline);
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    },
  };
}

/** Runs the statements marked in ./prepared.ts as named prepared statements on this connection. */
function usePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
    const name = typeof config === 'string' && Array.isArray(values) && callback === undefined ? preparedName(config) : undefined;
    if (name) return namedQuery(query, name, config as string, values as unknown[]);
    return query(config, values, callback);
  };
}

export interface EmbeddedOptions {
  /** Starts from a dump (tests use it to skip initdb). */
  loadDataDir?: Blob;
  /** Lend the database to the command line over the data directory's socket while open (the server does). */
  share?: boolean;
}

/** What only the embedded database offers, run in its thread. */
export interface EmbeddedExtras {
  /** The whole database as a tarball (tests dump a migrated one once). */
  dump(): Promise<Blob>;
  /** Serves the database on `<dir>/run/.s.PGSQL.5432`, as `share` does for the data directory; one at a time. */
  serveSocket(dir: string): Promise<{ path: string; close(): Promise<void> }>;
}

/**
 * Opens PGlite in `dataDir` (or in memory when null) in a worker thread of its
 * own (./pglite-worker.ts): its WASM work runs there, not in the event loop. A
 * directory is locked for this process while open.
 */
export async function openEmbedded(dataDir: string | null, options: EmbeddedOptions = {}): Promise<DatabaseHandle> {
  const unlock = dataDir ? acquireEmbeddedLock(dataDir) : () => {};
  let worker: EmbeddedWorker;
  try {
    worker = await EmbeddedWorker.start({
      ...(dataDir ? { pgdata: `${dataDir}/pgdata` } : {}),
      ...(options.loadDataDir ? { loadDataDir: await options.loadDataDir.arrayBuffer() } : {}),
    });
  } catch (err) {
    unlock();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(worker) });
  const serveSocket = async (dir: string) => {
    const path = (await worker.call({ t: 'serve', dataDir: dir })) as string;
    return { path, close: async () => void (await worker.call({ t: 'unserve' })) };
  };
  let shared: Awaited<ReturnType<typeof serveSocket>> | undefined;
  if (options.share && dataDir) {
    try {
      shared = await serveSocket(dataDir);
    } catch (err) {
      await worker.close();
      unlock();
      throw new Error(`cannot serve the embedded database to the command line on ${socketPath(dataDir)}: ${(err as Error).message}`);
    }
  }
  return {
    db,
    mode: 'embedded',
    description: dataDir ? `embedded PGlite in ${dataDir}` : 'embedded PGlite in memory',
    embedded: {
      dump: async () => new Blob([(await worker.call({ t: 'dump' })) as ArrayBuffer]),
      serveSocket,
    },
    listen: (channel, events) => listenEmbedded(worker, channel, events),
    close: async () => {
      await shared?.close();
      await db.destroy();
      await worker.close();
      unlock();
    },
  };
}

/**
 * PGlite's own LISTEN, in its thread; there, statements from socket clients
 * (bin/latch while the server holds the directory) count as notices too, since
 * their NOTIFY goes to that client (./pglite-worker.ts).
 */
function listenEmbedded(worker: EmbeddedWorker, channel: string, events: ListenEvents): Listening {
  if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
  events.down();
  const subscribed = worker.subscribe(channel, events).catch((err: Error) => {
    events.down(err);
    return undefined;
  });
  return {
    stop: async () => {
      const sub = await subscribed;
      if (sub !== undefined) await worker.unsubscribe(sub).catch(() => {});
    },
  };
}


/** What openDatabase reads of the configuration (src/config.ts). */
export interface DatabaseSettings {
  databaseUrl?: string;
  dataDir: string;
  /** Default true. */
  preparedStatements?: boolean;
  listenDatabaseUrl?: string;
}

export async function openDatabase(config: DatabaseSettings, embedded: EmbeddedOptions = {}): Promise<DatabaseHandle> {
  if (!config.databaseUrl) return openEmbedded(config.dataDir, embedded);
  return openPostgres(config.databaseUrl, { prepared: config.preparedStatements ?? true, listenUrl: config.listenDatabaseUrl });
}

/**
 * The command line's database: as the server's, except that an embedded
 * directory held by a running server is reached through the socket it serves.
 */
export async function openDatabaseShared(config: DatabaseSettings): Promise<DatabaseHandle> {
  try {
    return await openDatabase(config);
  } catch (err) {
    if (!(err instanceof EmbeddedDatabaseBusyError) || !existsSync(socketPath(config.dataDir))) throw err;
    return postgresHandle(
      { host: socketDirectory(config.dataDir), port: SOCKET_PORT, user: 'postgres', database: 'postgres' },
      `embedded PGlite in ${config.dataDir}, through the running server (${socketPath(config.dataDir)})`,
      { max: 1, prepared: false, connectionTimeoutMillis: 10_000 },
    );
  }
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
