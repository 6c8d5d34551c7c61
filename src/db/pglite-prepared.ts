/**
 * Named prepared statements in PGlite, as ./prepared.ts gives PostgreSQL.
 * PGlite's `query` parses, describes and plans every statement anew, and the
 * store's hot statements cost more to plan than to run: in PGlite the token
 * lookup (a join of three tables) took about 300 µs through `query` and 60 µs
 * as a named statement, the one-row insert 140 µs and 75 µs. Runs in the
 * embedded database's thread (./pglite-worker.ts), on the server's session.
 */
import { parse, protocol, type PGlite } from '@electric-sql/pglite';

export interface StatementResult {
  rows: unknown[];
  affectedRows?: number;
}

/** PostgreSQL's SQLSTATE for "prepared statement does not exist". */
const NO_SUCH_STATEMENT = '26000';

export class PreparedStatements {
  /** Statement name → its parameters' type OIDs, for serializing values as `query` does. */
  private readonly parameterTypes = new Map<string, number[]>();

  constructor(private readonly pglite: PGlite) {}

  async run(name: string, sql: string, params: readonly unknown[]): Promise<StatementResult> {
    try {
      return await this.execute(name, sql, params);
    } catch (err) {
      // Only a session reset (DEALLOCATE, DISCARD) takes a statement away; prepare it again, once.
      if ((err as { code?: string }).code !== NO_SUCH_STATEMENT || !this.parameterTypes.delete(name)) throw err;
      return this.execute(name, sql, params);
    }
  }

  private async execute(name: string, sql: string, params: readonly unknown[]): Promise<StatementResult> {
    const pglite = this.pglite;
    const messages = await pglite.runExclusive(async () => {
      const types = this.parameterTypes.get(name) ?? (await this.prepare(name, sql));
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null;
        const serialize = pglite.serializers[types[i]!];
        return serialize ? serialize(value) : String(value);
      });
      const { serialize } = protocol;
      return pglite.execProtocolStream(
        concat([serialize.bind({ statement: name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]),
        { syncToFs: false },
      );
    });
    await pglite.syncToFs();
    const [result] = parse.parseResults(messages, pglite.parsers);
    return { rows: result?.rows ?? [], affectedRows: result?.affectedRows };
  }

  private async prepare(name: string, sql: string): Promise<number[]> {
    const { serialize } = protocol;
    const messages = await this.pglite.execProtocolStream(
      concat([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    );
    const description = messages.find((m): m is typeof m & { dataTypeIDs: number[] } => m.name === 'parameterDescription');
    const types = description?.dataTypeIDs ?? [];
    this.parameterTypes.set(name, types);
    return types;
  }
}

/** The protocol messages as one buffer: PGlite runs them in one pass, as a server reads one packet. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
