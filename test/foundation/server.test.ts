import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../helpers/server.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'latch-srv-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const latch = (args: string[], env: NodeJS.ProcessEnv, input?: string) =>
  spawnSync(process.execPath, ['bin/latch', ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', input, timeout: 60_000 });

describe('the server process on embedded PGlite', () => {
  it('serves with no DATABASE_URL, tells a newcomer the next two commands, and stops cleanly on SIGTERM', async () => {
    const dataDir = tempDir();
    const server = await startServer({ LATCH_DATA_DIR: dataDir });
    try {
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      const log = server.output();
      expect(log).toContain('"database":"embedded"');
      expect(log).toContain('bin/latch user create --username alice --password-stdin --admin');
      expect(log).toContain('bin/latch client create --name \\"My app\\" --redirect-uri http://127.0.0.1:8080/callback');
    } finally {
      const { code } = await server.stop('SIGTERM');
      expect(code).toBe(0);
    }
    expect(server.output()).toContain('"msg":"stopped"');
    expect(existsSync(join(dataDir, 'latch.lock'))).toBe(false);
    expect(existsSync(join(dataDir, 'cookie-secret'))).toBe(true);
  });

  it('refuses a second process on the same data directory at once, without harm to the data', async () => {
    const dataDir = tempDir();
    const env = { LATCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    const made = latch(['user', 'create', '--username', 'erin', '--password', 'erin-password', '--json'], env);
    expect(made.status).toBe(0);
    const server = await startServer({ LATCH_DATA_DIR: dataDir });
    try {
      const busy = latch(['client', 'list'], env);
      expect(busy.status).toBe(1);
      expect(busy.stderr.trim()).toBe(
        `latch: the embedded database in ${dataDir} is in use by another latch process (pid ${server.pid}); stop it first, or run both on PostgreSQL by setting DATABASE_URL`,
      );
      const second = spawnSync(process.execPath, ['dist/src/server.js'], { env: { PATH: process.env.PATH, ...env, PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
      expect(second.status).toBe(1);
      expect(second.stderr).toContain('is in use by another latch process');
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      expect((await server.stop('SIGINT')).code).toBe(0);
    }
    // After the server stopped, the data written before it is intact and the CLI works.
    const after = latch(['user', 'create', '--username', 'erin', '--password', 'x-password-2'], env);
    expect(after.stderr).toContain('username: is already taken');
    const list = latch(['client', 'create', '--name', 'After', '--redirect-uri', 'https://a.example/cb', '--json'], env);
    expect(list.status).toBe(0);
  });

  it('takes over a lock left by a process that died', async () => {
    const dataDir = tempDir();
    const env = { LATCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    // A PID far above any live one here stands for a crashed holder.
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'latch.lock'), '4194000');
    const r = latch(['migrate', '--json'], env);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ applied: ['0001_initial', '0004_signing_keys'] });
  });
});
