import pg from 'pg';

/**
 * A named statement, as pg runs `{ name, text, values }`, with two costs of
 * pg's own path left out:
 *
 * - the copy pg makes of a config object (property descriptors, per call: a
 *   few percent of a token request): the query is built from the text and
 *   named, then handed to pg as a ready query, so pg's timeout and queueing
 *   apply as to any other;
 * - the Describe pg sends with every execution. A named statement's result
 *   columns are fixed when PostgreSQL parses it on a connection, so the first
 *   run's row description (or its absence) is kept for that connection and
 *   later runs send Bind, Execute and Sync alone, as pgjdbc does. Describing
 *   cost PostgreSQL a RowDescription per call and latch the parse of it and a
 *   row parser built anew per call (pg's `addFields`: 3–5% of a token lookup
 *   in a profile). If the statement's columns ever changed under it (a
 *   migration altering a table), PostgreSQL refuses the execution itself
 *   (0A000, "cached plan must not change result type"), with or without a
 *   Describe.
 */
export function namedQuery(query: (submittable: pg.Query) => unknown, name: string, text: string, values: unknown[]): Promise<pg.QueryResult> {
  const q = new DescribedOnce(text, values) as DescribedOnce & Internals;
  q.name = name;
  return new Promise((resolve, reject) => {
    q.callback = (err, res) => {
      if (!err) return resolve(res!);
      // As pg does: a stack that leads back to the caller, not to the socket read.
      Error.captureStackTrace(err);
      reject(err);
    };
    query(q);
  });
}

/** What a row of a statement's result looks like, built once per connection and statement. */
interface Shape {
  fields: unknown[];
  parsers: unknown[] | undefined;
  empty: Record<string, null> | null;
}

/** pg's connection (not typed by @types/pg): the messages it writes and the statements it has parsed. */
interface Connection {
  parsedStatements: Record<string, string>;
  bind(config: { portal: string; statement: string; values: unknown[]; binary: boolean; valueMapper: unknown }): void;
  execute(config: { portal: string }): void;
  sync(): void;
  close(config: { type: 'S'; name: string }): void;
}

/** The parts of pg's Query this subclass reads and sets (pg 8.x, lib/query.js and lib/result.js). */
interface Internals {
  name: string;
  text: string;
  values: unknown[];
  portal: string;
  binary: boolean;
  callback?: (err: Error | null, res?: pg.QueryResult) => void;
  _accumulateRows: boolean;
  _canceledDueToError: unknown;
  _result: { fields: unknown[]; _parsers: unknown[] | undefined; _prebuiltEmptyResultObject: Record<string, null> | null };
}

const shapes = new WeakMap<Connection, Map<string, Shape>>();
const NO_ROWS: Shape = { fields: [], parsers: undefined, empty: null };
const prepareValue = (pg as unknown as { utils?: { prepareValue?: unknown } }).utils?.prepareValue;
const base = pg.Query.prototype as unknown as Record<string, unknown>;
// What this relies on of pg's internals, checked once: a pg that changed them fails at start, not per query.
if (typeof prepareValue !== 'function' || !['prepare', 'handleRowDescription', 'handleReadyForQuery', 'handleError'].every((m) => typeof base[m] === 'function')) {
  throw new Error('pg no longer has the Query internals src/db/pg-named-query.ts builds on (pg 8.x)');
}

class DescribedOnce extends pg.Query {
  /** Set while this run describes its statement, so its answer can be kept. */
  private learning: Connection | undefined;
  private described = false;

  // Called by pg's submit, with the socket corked.
  prepare(connection: Connection): void {
    const self = this as unknown as DescribedOnce & Internals;
    const shape = connection.parsedStatements[self.name] === self.text ? shapes.get(connection)?.get(self.name) : undefined;
    if (!shape) {
      this.learning = connection;
      (pg.Query.prototype as unknown as { prepare(c: Connection): void }).prepare.call(this, connection);
      return;
    }
    try {
      connection.bind({ portal: self.portal, statement: self.name, values: self.values, binary: self.binary, valueMapper: prepareValue });
    } catch (err) {
      // As pg does when a value cannot be serialized.
      connection.sync();
      this.handleError(err, connection);
      return;
    }
    const result = self._result;
    result.fields = shape.fields;
    result._parsers = shape.parsers;
    result._prebuiltEmptyResultObject = shape.empty;
    self._accumulateRows = true;
    connection.execute({ portal: self.portal });
    connection.sync();
  }

  handleRowDescription(msg: unknown): void {
    (pg.Query.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(this, msg);
    this.described = true;
    const result = (this as unknown as Internals)._result;
    this.keep({ fields: result.fields, parsers: result._parsers, empty: result._prebuiltEmptyResultObject });
  }

  // A run that failed has not shown what the statement returns (pg reports a value it could not send this way, then still waits for ReadyForQuery).
  handleError(err: unknown, connection: Connection): void {
    this.learning = undefined;
    (pg.Query.prototype as unknown as { handleError(e: unknown, c: Connection): void }).handleError.call(this, err, connection);
  }

  handleReadyForQuery(connection: Connection): void {
    // Reaching here without a row description: the statement returns no rows (NoData).
    if (!this.described && !(this as unknown as Internals)._canceledDueToError) this.keep(NO_ROWS);
    (pg.Query.prototype as unknown as { handleReadyForQuery(c: Connection): void }).handleReadyForQuery.call(this, connection);
  }

  private keep(shape: Shape): void {
    const connection = this.learning;
    if (!connection) return;
    this.learning = undefined;
    let byName = shapes.get(connection);
    if (!byName) shapes.set(connection, (byName = new Map()));
    byName.set((this as unknown as Internals).name, shape);
  }
}
