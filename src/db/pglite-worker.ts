/**
 * The embedded database's thread: it owns PGlite, the socket lent to the
 * command line and the LISTEN hook, so that PGlite's synchronous WASM work
 * (parsing, planning, executing, writing pages) never stalls the server's event
 * loop. The server reaches it through ./pglite-bridge.ts; the protocol is the
 * `Request`/`Reply` pair below.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PGlite } from '@electric-sql/pglite';
import { ConnectionLock } from './pglite-dialect.js';
import { serveEmbeddedSocket, type EmbeddedSocket } from './embedded-socket.js';
import { PreparedStatements } from './pglite-prepared.js';

export interface WorkerOptions {
  /** PGlite's directory; in memory when absent. */
  pgdata?: string;
  /** A dump to start from (tests use it to skip initdb). */
  loadDataDir?: ArrayBuffer;
}

export type Request =
  /**
   * One statement of the server's session; `hold` keeps the session (a
   * transaction goes on); `name`: run it as that named prepared statement.
   */
  | { t: 'query'; id: number; sql: string; params: unknown[]; hold: boolean; name?: string }
  | { t: 'listen'; id: number; sub: number; channel: string }
  | { t: 'unlisten'; id: number; sub: number }
  | { t: 'serve'; id: number; dataDir: string }
  | { t: 'unserve'; id: number }
  | { t: 'dump'; id: number }
  | { t: 'close'; id: number };

export type Reply =
  | { t: 'ready' }
  | { t: 'failed'; error: SerializedError }
  | { t: 'ok'; id: number; value?: unknown }
  | { t: 'error'; id: number; error: SerializedError }
  /** For subscription `sub`: a NOTIFY payload, or a statement run by a socket client (payload ''). */
  | { t: 'notify'; sub: number; payload: string }
  | { t: 'up'; sub: number }
  | { t: 'down'; sub: number; error?: SerializedError };

/** An error as it crosses the thread: its message and PostgreSQL's fields (code, constraint, detail…). */
export interface SerializedError {
  message: string;
  name: string;
  fields: Record<string, string | number>;
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { message: String(err), name: 'Error', fields: {} };
  const fields: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === 'string' || typeof v === 'number') fields[k] = v;
  return { message: err.message, name: err.name, fields };
}

if (parentPort) void main(parentPort, workerData as WorkerOptions);

async function main(port: NonNullable<typeof parentPort>, options: WorkerOptions): Promise<void> {
  const post = (reply: Reply, transfer?: ArrayBuffer[]) => port.postMessage(reply, transfer);
  let pglite: PGlite;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    pglite = await PGlite.create(options.pgdata, options.loadDataDir ? { loadDataDir: new Blob([options.loadDataDir]) } : {});
  } catch (err) {
    post({ t: 'failed', error: serializeError(err) });
    return;
  }

  // Shared by the server's session and the socket's clients: one holder at a time.
  const lock = new ConnectionLock();
  let release: (() => void) | undefined;
  // The server's statements, in the order they were sent (the bridge pipelines them).
  let session: Promise<void> = Promise.resolve();
  let socket: EmbeddedSocket | undefined;
  const subscriptions = new Map<number, () => Promise<void>>();
  const prepared = new PreparedStatements(pglite);

  const query = async (r: Extract<Request, { t: 'query' }>) => {
    if (!release) release = await lock.acquire();
    try {
      const result = r.name ? await prepared.run(r.name, r.sql, r.params) : await pglite.query(r.sql, r.params);
      post({ t: 'ok', id: r.id, value: { rows: result.rows, affectedRows: result.affectedRows } });
    } catch (err) {
      post({ t: 'error', id: r.id, error: serializeError(err) });
    } finally {
      if (!r.hold && !pglite.isInTransaction()) {
        release();
        release = undefined;
      }
    }
  };

  const handle = async (r: Request): Promise<unknown> => {
    switch (r.t) {
      case 'listen':
        subscriptions.set(r.sub, listen(pglite, r.channel, r.sub, post));
        return;
      case 'unlisten':
        await subscriptions.get(r.sub)?.();
        subscriptions.delete(r.sub);
        return;
      case 'serve':
        socket = await serveEmbeddedSocket(pglite, lock, r.dataDir);
        return socket.path;
      case 'unserve':
        await socket?.close();
        socket = undefined;
        return;
      case 'dump': {
        const dump = await pglite.dumpDataDir('none');
        return dump.arrayBuffer();
      }
      case 'close':
        await socket?.close();
        for (const stop of subscriptions.values()) await stop();
        await session;
        await pglite.close();
        return;
    }
  };

  port.on('message', (r: Request) => {
    if (r.t === 'query') {
      session = session.then(() => query(r));
      return;
    }
    handle(r).then(
      (value) => {
        const transfer = value instanceof ArrayBuffer ? [value] : undefined;
        post({ t: 'ok', id: r.id, value }, transfer);
        if (r.t === 'close') port.close();
      },
      (err) => post({ t: 'error', id: r.id, error: serializeError(err) }),
    );
  });
  post({ t: 'ready' });
}

/**
 * PGlite is one session, so its LISTEN hears NOTIFY raised by statements run
 * through it. Statements from socket clients (bin/latch while the server holds
 * the directory) run through the raw protocol instead, whose notices go to that
 * client: each of those counts as a notice here, before its answer is passed on
 * (so before that client can learn that it is done).
 */
function listen(pglite: PGlite, channel: string, sub: number, post: (reply: Reply) => void): () => Promise<void> {
  const subscribed = pglite.listen(channel, (payload) => post({ t: 'notify', sub, payload })).then(
    (unlisten) => {
      post({ t: 'up', sub });
      return unlisten;
    },
    (err: Error) => {
      post({ t: 'down', sub, error: serializeError(err) });
      return undefined;
    },
  );
  const raw = pglite.execProtocolRawStream;
  pglite.execProtocolRawStream = function (message, options) {
    return raw.call(this, message, {
      ...options,
      onRawData: (data) => {
        post({ t: 'notify', sub, payload: '' });
        options.onRawData(data);
      },
    });
  };
  return async () => {
    pglite.execProtocolRawStream = raw;
    const unlisten = await subscribed;
    await unlisten?.().catch(() => {});
  };
}
