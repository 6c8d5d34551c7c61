import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import type { ConnectionLock } from './pglite-dialect.js';

/**
 * PGlite belongs to one process, so while the server runs it lends its
 * database to the command line over a Unix socket in the data directory. The
 * `pg` driver finds a socket as `<host>/.s.PGSQL.<port>`, hence the name.
 */
export const SOCKET_PORT = 5432;

/** A directory only the owner may enter: the socket is reachable by the user who runs latch, nobody else. */
export const socketDirectory = (dataDir: string): string => join(dataDir, 'run');
export const socketPath = (dataDir: string): string => join(socketDirectory(dataDir), `.s.PGSQL.${SOCKET_PORT}`);

/** Extended-query messages: until their Sync, the unnamed statement and portal must not be touched by anyone else. */
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));

interface Job {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

/**
 * Stands in for pglite-socket's own query queue, which knows nothing of the
 * server's Kysely driver: a socket client takes the same lock as the server's
 * queries and keeps it through an extended-query batch and a whole transaction,
 * so the server's statements never land inside the CLI's transaction, nor the reverse.
 */
class SharedSession {
  private jobs: Job[] = [];
  private owner: number | null = null;
  private release: (() => void) | null = null;
  private running = false;

  constructor(
    private readonly pglite: PGlite,
    private readonly lock: ConnectionLock,
  ) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.jobs.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    for (const job of this.jobs.filter((j) => j.handlerId === handlerId)) job.reject(new Error('client disconnected'));
    this.jobs = this.jobs.filter((j) => j.handlerId !== handlerId);
  }

  /** A client that goes away mid-transaction must not leave the server's session inside it. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.pglite.isInTransaction()) await this.pglite.exec('ROLLBACK').catch(() => {});
    this.handBack();
    void this.pump();
  }

  private handBack(): void {
    this.owner = null;
    const release = this.release;
    this.release = null;
    release?.();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const index = this.owner === null ? 0 : this.jobs.findIndex((j) => j.handlerId === this.owner);
        if (index < 0 || index >= this.jobs.length) return;
        const job = this.jobs.splice(index, 1)[0]!;
        if (this.owner === null) {
          this.release = await this.lock.acquire();
          this.owner = job.handlerId;
        }
        let bytes = 0;
        try {
          await this.pglite.runExclusive(() =>
            this.pglite.execProtocolRawStream(job.message, {
              onRawData: (data) => {
                bytes += data.length;
                job.onData(data);
              },
            }),
          );
          job.resolve(bytes);
        } catch (err) {
          job.reject(err as Error);
        }
        // Sync, a simple query, the start-up message: the unit ends, unless a transaction goes on.
        if (!EXTENDED.has(job.message[0]!) && !this.pglite.isInTransaction()) this.handBack();
      }
    } finally {
      this.running = false;
    }
  }
}

export interface EmbeddedSocket {
  path: string;
  close(): Promise<void>;
}

/** Serves `pglite` on the data directory's socket; the socket file is gone again after close(). */
export async function serveEmbeddedSocket(pglite: PGlite, lock: ConnectionLock, dataDir: string): Promise<EmbeddedSocket> {
  const dir = socketDirectory(dataDir);
  const path = socketPath(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  // We hold the data directory's lock, so a socket file left here is a crashed server's.
  rmSync(path, { force: true });
  const session = new SharedSession(pglite, lock);
  const queryQueue = session as unknown as PGLiteSocketHandlerOptions['queryQueue'];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true });
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Connected clients would hold close() open; they are our own short-lived CLI runs.
        for (const socket of sockets) socket.destroy();
      });
      rmSync(path, { force: true });
    },
  };
}
