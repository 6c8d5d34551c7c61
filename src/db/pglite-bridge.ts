import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import type { Reply, Request, SerializedError, WorkerOptions } from './pglite-worker.js';
import { preparedName } from './prepared.js';

type Pending = { resolve(value: unknown): void; reject(err: Error): void };
type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type Call = Distribute<Request>;

export interface QueryReply {
  rows: unknown[];
  affectedRows?: number;
}

export interface SubscriptionEvents {
  notify(payload: string): void;
  up(): void;
  down(err?: Error): void;
}

/**
 * The server's end of ./pglite-worker.ts. The worker is referenced only while a
 * call is outstanding, so an idle embedded database keeps no process alive, as
 * PGlite in the same thread did not.
 */
export class EmbeddedWorker {
  private readonly pending = new Map<number, Pending>();
  private readonly subscriptions = new Map<number, SubscriptionEvents>();
  private nextId = 1;
  private nextSub = 1;
  private exited: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on('message', (reply: Reply) => this.receive(reply));
    const fail = (err: Error) => {
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      for (const events of this.subscriptions.values()) events.down(err);
      this.subscriptions.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the embedded database's thread ended (exit ${code})`)));
  }

  static async start(options: WorkerOptions): Promise<EmbeddedWorker> {
    const { script, eval: evaluate } = workerScript();
    const transferList = options.loadDataDir ? [options.loadDataDir] : [];
    const worker = new Worker(script, { eval: evaluate, workerData: options, transferList, execArgv: [] });
    const listeners: Record<string, (arg: any) => void> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any
    const ready = await new Promise<Reply>((resolve, reject) => {
      listeners.message = resolve;
      listeners.error = reject;
      listeners.exit = (code: number) => reject(new Error(`the embedded database's thread ended while starting (exit ${code})`));
      for (const [event, listener] of Object.entries(listeners)) worker.once(event, listener);
    }).finally(() => {
      for (const [event, listener] of Object.entries(listeners)) worker.off(event, listener);
    });
    if (ready.t !== 'ready') {
      await worker.terminate();
      throw toError(ready.t === 'failed' ? ready.error : { message: 'unexpected start-up message', name: 'Error', fields: {} });
    }
    return new EmbeddedWorker(worker);
  }

  call(request: Call): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  query(sql: string, params: readonly unknown[], hold: boolean): Promise<QueryReply> {
    const name = preparedName(sql);
    return this.call({ t: 'query', sql, params: params as unknown[], hold, ...(name ? { name } : {}) }) as Promise<QueryReply>;
  }

  /** Registered before it is sent, so that no notice of the worker's can arrive ahead of it. */
  async subscribe(channel: string, events: SubscriptionEvents): Promise<number> {
    const sub = this.nextSub++;
    this.subscriptions.set(sub, events);
    try {
      await this.call({ t: 'listen', sub, channel });
    } catch (err) {
      this.subscriptions.delete(sub);
      throw err;
    }
    return sub;
  }

  async unsubscribe(sub: number): Promise<void> {
    this.subscriptions.delete(sub);
    if (!this.exited) await this.call({ t: 'unlisten', sub });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    await this.call({ t: 'close' });
    await this.worker.terminate();
  }

  private receive(reply: Reply): void {
    switch (reply.t) {
      case 'ok':
      case 'error': {
        const p = this.pending.get(reply.id);
        if (!p) return;
        this.pending.delete(reply.id);
        if (this.pending.size === 0) this.worker.unref();
        if (reply.t === 'ok') p.resolve(reply.value);
        else p.reject(toError(reply.error));
        return;
      }
      case 'notify':
        this.subscriptions.get(reply.sub)?.notify(reply.payload);
        return;
      case 'up':
        this.subscriptions.get(reply.sub)?.up();
        return;
      case 'down':
        this.subscriptions.get(reply.sub)?.down(reply.error && toError(reply.error));
        return;
    }
  }
}

/**
 * The worker's module next to this one: compiled JavaScript when built; under
 * vitest, which runs the sources, the TypeScript through tsx's loader.
 */
function workerScript(): { script: string | URL; eval: boolean } {
  const js = new URL('./pglite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { script: js, eval: false };
  // require.resolve finds the CommonJS build; the module registering hooks is its ES twin.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const ts = new URL('./pglite-worker.ts', import.meta.url).href;
  return { script: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(ts)}); })`, eval: true };
}

/** PostgreSQL's errors arrive as pg's DatabaseError, as they would from a server: code, constraint, detail… */
function toError(e: SerializedError): Error {
  const err = 'code' in e.fields ? new pg.DatabaseError(e.message, 0, 'error') : new Error(e.message);
  Object.assign(err, e.fields);
  if (e.name && !(err instanceof pg.DatabaseError)) err.name = e.name;
  return err;
}
