import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
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
 * may hold: a CLI call while the server runs goes through the socket the server lends it).
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

/**
 * How long a spawned server or CLI run may take to be ready. Generous because CI
 * shares two cores with other suites: PGlite's start-up alone can take many seconds there.
 */
export const PROCESS_READY_MS = 120_000;
/** For a test or hook that starts processes: room for a slow start and the test itself. */
export const PROCESS_TEST_MS = 300_000;

/** Runs bin/latch to completion; a run that overstays is killed and reported with what it printed. */
export function runLatch(args: string[], env: NodeJS.ProcessEnv, input?: string): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, ['bin/latch', ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    input,
    timeout: PROCESS_READY_MS,
  });
  if (r.error) throw new Error(`bin/latch ${args.join(' ')}: ${r.error.message}\nstdout: ${r.stdout || '(nothing)'}\nstderr: ${r.stderr || '(nothing)'}`);
  return r;
}

/** Starts dist/src/server.js on a free loopback port and waits until it listens. */
export async function startServer(env: NodeJS.ProcessEnv, timeoutMs = PROCESS_READY_MS): Promise<RunningServer> {
  const started = Date.now();
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
      reject(new Error(`server (pid ${child.pid}) did not start within ${timeoutMs / 1000} s; it printed:\n${output || '(nothing)'}`));
    }, timeoutMs);
    const onData = () => {
      const m = output.match(/"url":"(http:\/\/[^"]+)"/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${signal ?? `code ${code}`}) before listening, after ${Date.now() - started} ms; it printed:\n${output || '(nothing)'}`));
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

/** Runs `bin/latch … --json` quietly and parses its answer; a failure throws with what it printed. */
export function latchJson(env: NodeJS.ProcessEnv, args: string[], input?: string) {
  const r = runLatch([...args, '--json'], { ...env, LOG_LEVEL: 'silent' }, input);
  if (r.status !== 0) throw new Error(`bin/latch ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Where browser tests leave screenshots, and how they start headless Chromium. */
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
