import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

/** PGlite's one session as the dialect sees it: ./pglite-bridge.ts, to the worker thread that owns PGlite. */
export interface EmbeddedSession {
  /** Runs one statement; `hold` keeps the session for the next (a transaction goes on). */
  query(sql: string, params: readonly unknown[], hold: boolean): Promise<{ rows: unknown[]; affectedRows?: number }>;
}

/**
 * Kysely over embedded PGlite. PGlite is one session: statements outside a
 * transaction are sent as they come (the worker runs them in that order, so the
 * server never waits a round trip between them), while a transaction holds the
 * session from begin to commit or rollback, which is what keeps concurrent
 * single-use steps (code exchange, rotation) serial here.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly session: EmbeddedSession) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.session);
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

/** The one PGlite session, held by one user at a time: a query, a whole transaction, or a socket client's batch. */
export class ConnectionLock {
  private queue: Promise<void> = Promise.resolve();

  /** Resolves when the session is yours, with the function that hands it on. */
  async acquire(): Promise<() => void> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  }
}

class PGliteDriver implements Driver {
  private readonly transactions = new ConnectionLock();
  /** Settles when the open transaction ends; statements outside it wait for that. */
  private open: Promise<void> | undefined;

  constructor(private readonly session: EmbeddedSession) {}
  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PGliteConnection(this);
  }
  async beginTransaction(conn: DatabaseConnection) {
    const c = conn as PGliteConnection;
    const release = await this.transactions.acquire();
    let ended!: () => void;
    this.open = new Promise<void>((resolve) => (ended = resolve));
    c.transaction = () => {
      this.open = undefined;
      ended();
      release();
    };
    try {
      await c.executeQuery(CompiledQuery.raw('begin'));
    } catch (err) {
      c.transaction();
      c.transaction = undefined;
      throw err;
    }
  }
  async commitTransaction(conn: DatabaseConnection) {
    await (conn as PGliteConnection).finish('commit');
  }
  async rollbackTransaction(conn: DatabaseConnection) {
    await (conn as PGliteConnection).finish('rollback');
  }
  async releaseConnection() {}
  async destroy() {}

  async send(sql: string, params: readonly unknown[], inTransaction: boolean, hold: boolean) {
    if (!inTransaction) while (this.open) await this.open;
    return this.session.query(sql, params, hold);
  }
}

class PGliteConnection implements DatabaseConnection {
  /** Set while this connection runs a transaction: ends it and hands the session on. */
  transaction: (() => void) | undefined;

  constructor(private readonly driver: PGliteDriver) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const inTransaction = this.transaction !== undefined;
    const result = await this.driver.send(compiled.sql, compiled.parameters, inTransaction, inTransaction);
    return shape<R>(compiled, result);
  }

  async finish(statement: 'commit' | 'rollback') {
    const end = this.transaction;
    this.transaction = undefined;
    try {
      await this.driver.send(statement, [], true, false);
    } finally {
      end?.();
    }
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on PGlite');
  }
}

function shape<R>(compiled: CompiledQuery, result: { rows: unknown[]; affectedRows?: number }): QueryResult<R> {
  const affected = result.affectedRows;
  return {
    rows: result.rows as R[],
    ...(affected !== undefined && /^(insert|update|delete|merge)/i.test(compiled.sql.trimStart()) ? { numAffectedRows: BigInt(affected) } : {}),
  };
}
