/**
 * Named prepared statements in PGlite, as ./prepared.ts gives PostgreSQL.
 * PGlite's `query` parses, describes and plans every statement anew, and the
 * store's hot statements cost more to plan than to run: in PGlite the token
 * lookup (a join of three tables) took about 300 µs through `query`, 57 µs as
 * a named statement, and 38 µs once its row description was kept from the
 * Parse instead of asked for again (Describe) on every call. Runs in the
 * embedded database's thread (./pglite-worker.ts), on the server's session.
 */
import { parse, protocol, type PGlite } from '@electric-sql/pglite';

type Message = Awaited<ReturnType<PGlite['execProtocolStream']>>[number];

/** What the Parse told of a statement, kept for its executions. */
interface Described {
  /** Its parameters' type OIDs, for serializing values as `query` does. */
  parameterTypes: number[];
  /** Its columns (none for a statement that returns no rows): the results are read by it. */
  rowDescription: Message | undefined;
}

export interface StatementResult {
  rows: unknown[];
  affectedRows?: number;
}

/** PostgreSQL's SQLSTATE for "prepared statement does not exist". */
const NO_SUCH_STATEMENT = '26000';

export class PreparedStatements {
  private readonly described = new Map<string, Described>();

  constructor(private readonly pglite: PGlite) {}

  async run(name: string, sql: string, params: readonly unknown[]): Promise<StatementResult> {
    try {
      return await this.execute(name, sql, params);
    } catch (err) {
      // Only a session reset (DEALLOCATE, DISCARD) takes a statement away; prepare it again, once.
      if ((err as { code?: string }).code !== NO_SUCH_STATEMENT || !this.described.delete(name)) throw err;
      return this.execute(name, sql, params);
    }
  }

  private async execute(name: string, sql: string, params: readonly unknown[]): Promise<StatementResult> {
    const pglite = this.pglite;
    const [rowDescription, messages] = await pglite.runExclusive(async () => {
      const statement = this.described.get(name) ?? (await this.prepare(name, sql));
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const serialize = pglite.serializers[statement.parameterTypes[i]!];
        return serialize ? serialize(value) : String(value);
      });
      const { serialize } = protocol;
      const replies = await pglite.execProtocolStream(Buffer.concat([serialize.bind({ statement: name, values }), serialize.execute({}), serialize.sync()]), {
        syncToFs: false,
      });
      return [statement.rowDescription, replies] as const;
    });
    await pglite.syncToFs();
    const [result] = parse.parseResults(rowDescription ? [rowDescription, ...messages] : messages, pglite.parsers);
    return { rows: result?.rows ?? [], affectedRows: result?.affectedRows };
  }

  private async prepare(name: string, sql: string): Promise<Described> {
    const { serialize } = protocol;
    // One buffer: PGlite runs the messages in one pass, as a server reads one packet.
    const messages = await this.pglite.execProtocolStream(
      Buffer.concat([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    );
    const parameters = messages.find((m): m is Message & { dataTypeIDs: number[] } => m.name === 'parameterDescription');
    const described = { parameterTypes: parameters?.dataTypeIDs ?? [], rowDescription: messages.find((m) => m.name === 'rowDescription') };
    this.described.set(name, described);
    return described;
  }
}
