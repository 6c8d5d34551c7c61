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
  const q = new DescribedOnce(text, values);
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
}

/** What this subclass reads, sets and calls of pg's Query (pg 8.x, lib/query.js and lib/result.js). */
interface QueryInternals {
  name: string;
  text: string;
  values: unknown[];
  portal: string;
  binary: boolean;
  callback?: (err: Error | null, res?: pg.QueryResult) => void;
  _accumulateRows: boolean;
  _result: { fields: unknown[]; _parsers: unknown[] | undefined; _prebuiltEmptyResultObject: Record<string, null> | null };
  prepare(connection: Connection): void;
  handleRowDescription(msg: unknown): void;
  handleError(err: unknown, connection: Connection): void;
  handleReadyForQuery(connection: Connection): void;
}

const Query = pg.Query as unknown as new (text: string, values: unknown[]) => pg.Query & QueryInternals;
const base = Query.prototype;
const prepareValue = (pg as unknown as { utils?: { prepareValue?: unknown } }).utils?.prepareValue;
// What this relies on of pg's internals, checked once: a pg that changed them fails at start, not per query.
if (typeof prepareValue !== 'function' || ![base.prepare, base.handleRowDescription, base.handleReadyForQuery, base.handleError].every((m) => typeof m === 'function')) {
  throw new Error('pg no longer has the Query internals src/db/pg-named-query.ts builds on (pg 8.x)');
}

const shapes = new WeakMap<Connection, Map<string, Shape>>();
const NO_ROWS: Shape = { fields: [], parsers: undefined, empty: null };

class DescribedOnce extends Query {
  /** The connection whose description of this statement this run is to keep; cleared once kept, or when the run fails. */
  private learning: Connection | undefined;

  // Called by pg's submit, with the socket corked.
  override prepare(connection: Connection): void {
    const shape = connection.parsedStatements[this.name] === this.text ? shapes.get(connection)?.get(this.name) : undefined;
    if (!shape) {
      this.learning = connection;
      base.prepare.call(this, connection);
      return;
    }
    try {
      connection.bind({ portal: this.portal, statement: this.name, values: this.values, binary: this.binary, valueMapper: prepareValue });
    } catch (err) {
      // As pg does when a value cannot be serialized.
      connection.sync();
      this.handleError(err, connection);
      return;
    }
    this._result.fields = shape.fields;
    this._result._parsers = shape.parsers;
    this._result._prebuiltEmptyResultObject = shape.empty;
    this._accumulateRows = true;
    connection.execute({ portal: this.portal });
    connection.sync();
  }

  override handleRowDescription(msg: unknown): void {
    base.handleRowDescription.call(this, msg);
    this.keep({ fields: this._result.fields, parsers: this._result._parsers, empty: this._result._prebuiltEmptyResultObject });
  }

  // A run that failed has not shown what the statement returns (pg reports a value it could not send this way, then still waits for ReadyForQuery).
  override handleError(err: unknown, connection: Connection): void {
    this.learning = undefined;
    base.handleError.call(this, err, connection);
  }

  override handleReadyForQuery(connection: Connection): void {
    // Still learning here: no row description came, the statement returns no rows (NoData).
    this.keep(NO_ROWS);
    base.handleReadyForQuery.call(this, connection);
  }

  private keep(shape: Shape): void {
    const connection = this.learning;
    if (!connection) return;
    this.learning = undefined;
    let byName = shapes.get(connection);
    if (!byName) shapes.set(connection, (byName = new Map()));
    byName.set(this.name, shape);
  }
}
