import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '../../src/config.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';
import { PROCESS_READY_MS, PROCESS_TEST_MS, startServer, type RunningServer } from '../helpers/server.js';

const SECRETS = { LATCH_COOKIE_SECRET: 'c'.repeat(40), LATCH_KEY_SECRET: 'k'.repeat(40) };

describe('LATCH_WORKERS settings', () => {
  it('reads a number of processes, or one per core for auto, on PostgreSQL', () => {
    const pg = { DATABASE_URL: 'postgres://x@127.0.0.1/db', ...SECRETS };
    expect(loadConfig(pg).workers).toBe(1);
    expect(loadConfig({ ...pg, LATCH_WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ ...pg, LATCH_WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it('refuses nonsense and refuses more than one process in embedded mode, saying why', () => {
    for (const bad of ['0', 'many', '-2', '1.5']) {
      expect(() => loadConfig({ LATCH_WORKERS: bad })).toThrow(/^LATCH_WORKERS: expected a number of processes/);
    }
    expect(() => loadConfig({ LATCH_WORKERS: '2' })).toThrow(ConfigError);
    expect(() => loadConfig({ LATCH_WORKERS: '2' })).toThrow(/embedded database lives inside one process.*set DATABASE_URL/);
    expect(loadConfig({ LATCH_WORKERS: '1' }).workers).toBe(1);
  });

  it('the embedded server refuses to start with two workers, with that message and no stack', () => {
    const r = spawnSync(process.execPath, ['dist/src/server.js'], {
      env: { PATH: process.env.PATH, LATCH_WORKERS: '2', PORT: '0', LATCH_DATA_DIR: '/nonexistent/never-created' },
      encoding: 'utf8',
      timeout: PROCESS_READY_MS,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^latch: LATCH_WORKERS: the embedded database lives inside one process/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, PROCESS_TEST_MS);
});

describe('LATCH_WORKERS=2 on PostgreSQL', () => {
  let database: { url: string; drop(): Promise<void> };
  let server: RunningServer;

  beforeAll(async () => {
    database = await freshPostgresDatabase(await requirePostgresServer());
    server = await startServer({ DATABASE_URL: database.url, ...SECRETS, LATCH_WORKERS: '2' });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    if (server) await server.stop();
    await database?.drop();
  });

  /** Process ids that announced "latch listening", in order. */
  const listeners = () => [...server.output().matchAll(/"pid":(\d+)[^\n]*"msg":"latch listening/g)].map((m) => Number(m[1]));
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + PROCESS_READY_MS;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen; the server printed:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('serves from two processes on one port, replaces one that dies, and stops them all on SIGTERM', async () => {
    await until('two workers listening', () => listeners().length >= 2);
    const [first, second] = listeners();
    expect(first).not.toBe(second);
    expect([first, second]).not.toContain(server.pid);
    for (let i = 0; i < 10; i++) expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // A crashed worker (ours: we started it) is replaced, and the server keeps answering meanwhile.
    process.kill(first!, 'SIGKILL');
    await until('a replacement worker', () => listeners().length >= 3);
    const replacement = listeners()[2]!;
    expect([first, second, server.pid]).not.toContain(replacement);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    const { code } = await server.stop('SIGTERM');
    expect(code).toBe(0);
    await until('every worker gone', () => !alive(second!) && !alive(replacement));
  }, PROCESS_TEST_MS);
});
