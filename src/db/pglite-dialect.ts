import type { PGlite, Transaction } from '@electric-sql/pglite';
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

/**
 * Kysely over PGlite. PGlite is one connection, so the driver hands out one
 * connection at a time; a transaction holds it until commit or rollback, which is
 * what keeps concurrent single-use steps (code exchange, rotation) serial here.
 */
export class PGliteDialect implements Dialect {
  constructor(
    private readonly pglite: PGlite,
    /** Shared with anything else that talks to this PGlite (the CLI's socket, ./embedded-socket.ts). */
    readonly lock = new ConnectionLock(),
  ) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite, this.lock);
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
  private release: (() => void) | undefined;
  private readonly connection: PGliteConnection;

  constructor(
    pglite: PGlite,
    private readonly lock: ConnectionLock,
  ) {
    this.connection = new PGliteConnection(pglite);
  }
  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    this.release = await this.lock.acquire();
    return this.connection;
  }
  async beginTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('begin'));
  }
  async commitTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection() {
    const release = this.release;
    this.release = undefined;
    release?.();
  }
  async destroy() {}
}

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite | Transaction) {}
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiled.sql, compiled.parameters as unknown[]);
    const affected = result.affectedRows;
    return {
      rows: result.rows,
      ...(affected !== undefined && /^(insert|update|delete|merge)/i.test(compiled.sql.trimStart())
        ? { numAffectedRows: BigInt(affected) }
        : {}),
    };
  }
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on PGlite');
  }
}
