import { afterAll, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ManualClock } from '../../src/clock.js';
import { describePostgres } from '../../src/db/database.js';
import { socketPath } from '../../src/db/embedded-socket.js';
import { readSecret } from '../../src/cli/io.js';
import { interactiveOutput } from '../../src/logger.js';
import { passwordProblem } from '../../src/manage/users.js';
import { cli } from '../helpers/cli.js';
import { onPostgres, testDatabase } from '../helpers/db.js';
import { PROCESS_READY_MS, PROCESS_TEST_MS, runLatch, serverStore, startServer } from '../helpers/server.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Runs `command` under util-linux `script`, which gives it a pseudo-terminal:
 * what a person at a terminal sees. `steps` answer what it prints.
 */
function inTerminal(command: string, env: NodeJS.ProcessEnv, steps: { waitFor: string | RegExp; type: string }[]) {
  const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'dumb', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let step = 0;
  const advance = () => {
    const next = steps[step];
    if (next && (typeof next.waitFor === 'string' ? output.includes(next.waitFor) : next.waitFor.test(output))) {
      step++;
      child.stdin.write(next.type);
      advance();
    }
  };
  child.stdout.on('data', (d) => {
    output += d;
    advance();
  });
  child.stderr.on('data', (d) => (output += d));
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`"${command}" in a terminal did not finish within ${PROCESS_READY_MS / 1000} s; it printed:\n${output || '(nothing)'}`));
    }, PROCESS_READY_MS);
    // 'close', not 'exit': only then has everything the terminal printed been read.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('bin/latch while the server runs', { timeout: PROCESS_TEST_MS }, () => {
  it('creates a user and a client the running server uses at once, and names the database on stderr', async () => {
    const store = await serverStore();
    const env = { ...store.env, LOG_LEVEL: 'silent' };
    const server = await startServer(store.env);
    try {
      const user = runLatch(['user', 'create', '--username', 'alice', '--password-stdin', '--admin', '--json'], env, 'wonderland-42\n');
      expect(user.stderr).not.toMatch(/in use by another latch process/);
      expect(user.status).toBe(0);
      const created = runLatch(['client', 'create', '--name', 'My app', '--redirect-uri', 'http://127.0.0.1:8080/callback', '--grant-types', 'password', '--json'], env);
      expect(created.status).toBe(0);
      const client = JSON.parse(created.stdout);

      if (onPostgres()) {
        expect(user.stderr).toMatch(/^latch: database: PostgreSQL 127\.0\.0\.1:5432\/latch_test_\w+\n/);
      } else {
        const dataDir = store.env.LATCH_DATA_DIR!;
        expect(user.stderr).toBe(`latch: database: embedded PGlite in ${dataDir}, through the running server (${socketPath(dataDir)})\n`);
        // Only the user who runs latch may reach the socket.
        expect(statSync(socketPath(dataDir)).mode & 0o777).toBe(0o600);
        expect(statSync(join(dataDir, 'run')).mode & 0o777).toBe(0o700);
      }

      // The server sees both at once: the password grant signs alice in for that client.
      const res = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'wonderland-42' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { access_token?: string }).access_token).toBeTruthy();
    } finally {
      expect((await server.stop('SIGTERM')).code).toBe(0);
    }
    if (!onPostgres()) {
      const dataDir = store.env.LATCH_DATA_DIR!;
      // Stopped: the socket is gone and the CLI opens the directory itself, as without a server.
      expect(existsSync(socketPath(dataDir))).toBe(false);
      const after = runLatch(['client', 'list'], env);
      expect(after.status).toBe(0);
      expect(after.stderr).toBe(`latch: database: embedded PGlite in ${dataDir}\n`);
      expect(after.stdout).toContain('My app');
    }
    await store.dispose();
  });

  it('says to stop the other process when the directory is held by one that does not share it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latch-held-'));
    dirs.push(dataDir);
    mkdirSync(dataDir, { recursive: true });
    // This test's own process is alive and serves no socket.
    writeFileSync(join(dataDir, 'latch.lock'), String(process.pid));
    const r = runLatch(['client', 'list'], { LATCH_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`is in use by another latch process (pid ${process.pid}); stop it first`);
  });
});

describe('describing the database', () => {
  it('names host, port and database of a DATABASE_URL, never the user or the password', () => {
    const d = describePostgres('postgres://latch:hunter2-secret@db.example:5433/latch?sslmode=require');
    expect(d).toBe('PostgreSQL db.example:5433/latch');
    expect(describePostgres('postgres:///latch?host=/var/run/postgresql')).toBe('PostgreSQL /var/run/postgresql/latch');
  });
});

describe('bin/latch help and passwords', () => {
  const clock = new ManualClock();

  it.each(['user', 'client', 'token'])('`latch %s --help` lists the group\'s commands and exits 0', async (group) => {
    const r = await cli([group, '--help'], { clock });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const expected = { user: ['create'], client: ['create', 'list', 'show', 'update', 'approve', 'rotate-secret', 'delete'], token: ['create', 'list', 'revoke'] }[group]!;
    for (const sub of expected) expect(r.stdout).toContain(`latch ${group} ${sub} `);
  });

  it('user create applies the sign-up password rule', async () => {
    const t = await testDatabase();
    try {
      const run = (argv: string[]) => cli(argv, { clock, openDb: async () => ({ ...t, close: async () => {} }) });
      const short = await run(['user', 'create', '--username', 'shorty', '--password', 'abcde']);
      expect(short.code).toBe(1);
      expect(short.stderr).toContain(`latch user create: password: ${passwordProblem('abcde', 'shorty')}`);
      const named = await run(['user', 'create', '--username', 'mallory', '--password', 'mallory-2024-x']);
      expect(named.code).toBe(1);
      expect(named.stderr).toContain('password: must not contain the username');
      expect((await t.db.selectFrom('users').select('id').execute()).length).toBe(0);
    } finally {
      await t.close();
    }
  });
});

describe('--password-stdin at a terminal', () => {
  /** A stand-in for process.stdin on a terminal. */
  function fakeTty() {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: vi.fn() });
    const stderr = new PassThrough();
    let shown = '';
    stderr.on('data', (d) => (shown += d));
    return { stdin, stderr, shown: () => shown };
  }

  it('prompts, reads one line in raw mode (no echo), honours backspace and restores the terminal', async () => {
    const { stdin, stderr, shown } = fakeTty();
    const secret = readSecret(stdin, stderr, 'Password: ');
    stdin.write('hunter22x\u007f3\rnext line ignored');
    expect(await secret).toBe('hunter223');
    expect(stdin.setRawMode.mock.calls).toEqual([[true], [false]]);
    expect(shown()).toBe('Password: \n');
  });

  it('Ctrl-C gives up without creating anything', async () => {
    const { stdin, stderr } = fakeTty();
    const secret = readSecret(stdin, stderr, 'Password: ');
    stdin.write('abc\u0003');
    await expect(secret).rejects.toThrow('interrupted');
    expect(stdin.setRawMode).toHaveBeenLastCalledWith(false);
  });

  it('reads everything from a pipe, as before', async () => {
    const stdin = new PassThrough();
    const secret = readSecret(stdin, new PassThrough(), 'Password: ');
    stdin.end('from a pipe\n');
    expect(await secret).toBe('from a pipe');
  });

  it('in a real pseudo-terminal: asks, does not echo, creates the user', { timeout: PROCESS_TEST_MS }, async () => {
    const store = await serverStore();
    try {
      const r = await inTerminal('node bin/latch user create --username pty-user --password-stdin --json', { ...store.env, LOG_LEVEL: 'silent' }, [
        { waitFor: 'Password for pty-user (not shown): ', type: 'typed-in secret 9\r' },
      ]);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain('"username":"pty-user"');
      expect(r.output).not.toContain('typed-in secret 9');
    } finally {
      await store.dispose();
    }
  });
});

describe('the start hint', () => {
  it('is JSON for a log collector, under CI, and readable lines at a terminal', () => {
    expect(interactiveOutput({ isTTY: true }, {})).toBe(true);
    expect(interactiveOutput({ isTTY: true }, { CI: 'true' })).toBe(false);
    expect(interactiveOutput({ isTTY: false }, {})).toBe(false);
    expect(interactiveOutput({}, {})).toBe(false);
  });

  it('prints the next commands as plain lines when the server runs in a terminal', { timeout: PROCESS_TEST_MS }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latch-tty-'));
    dirs.push(dataDir);
    // Ctrl-C once the hint is out: the terminal sends SIGINT and the server stops cleanly.
    const r = await inTerminal('exec node dist/src/server.js', { LATCH_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0' }, [
      { waitFor: /--redirect-uri http:\/\/127\.0\.0\.1:8080\/callback\r?\n/, type: '\u0003' },
    ]);
    // The shell `script` starts gets the Ctrl-C as well, so its exit code says little: the server's last line does.
    expect(r.output).toMatch(/INFO.*stopped/);
    expect(r.output).toMatch(/^ {2}bin\/latch user create --username alice --password-stdin --admin\r?$/m);
    expect(r.output).toMatch(/^ {2}bin\/latch client create --name "My app" --redirect-uri http:\/\/127\.0\.0\.1:8080\/callback\r?$/m);
    expect(r.output).not.toContain('{"level"');
    expect(r.output).not.toContain('\\n');
  });
});
