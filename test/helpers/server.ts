import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onPostgres, testDatabase } from './db.js';

export interface ServerStore {
  /** DATABASE_URL, a cookie and a key secret on PostgreSQL, or LATCH_DATA_DIR on PGlite. */
  env: NodeJS.ProcessEnv;
  /** Drops the database or removes the data directory; call after the server stopped. */
  dispose(): Promise<void>;
}

/**
 * Where a real server under test keeps its data: a database of this file's own on
 * the run's PostgreSQL, else a fresh PGlite data directory (which only one process
 * may hold, so CLI calls must come before the server starts, on both alike).
 */
export async function serverStore(): Promise<ServerStore> {
  if (onPostgres()) {
    const database = await testDatabase();
    return {
      env: { DATABASE_URL: database.url, LATCH_COOKIE_SECRET: randomBytes(32).toString('hex'), LATCH_KEY_SECRET: randomBytes(32).toString('hex') },
      dispose: () => database.close(),
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-e2e-'));
  return { env: { LATCH_DATA_DIR: dataDir }, dispose: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** A free loopback port, so a server's issuer (and the `iss` it sends) can name it before it starts. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface RunningServer {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Every line the server wrote, stdout and stderr. */
  output(): string;
  /** Sends `signal` to this server's own PID and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts dist/src/server.js on a free loopback port and waits until it listens. */
export async function startServer(env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunningServer> {
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a process behind: this one is ours, stop it by its PID.
      if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
      reject(new Error(`server did not start:\n${output}`));
    }, timeoutMs);
    const onData = () => {
      const m = output.match(/"url":"(http:\/\/[^"]+)"/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${output}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
      return { code, signal: sig };
    },
  };
}
