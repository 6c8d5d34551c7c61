import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadConfig } from '../../src/config.js';
import { PROCESS_READY_MS, PROCESS_TEST_MS } from '../helpers/server.js';

describe('config', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      databaseUrl: undefined,
      dataDir: './data',
      host: '127.0.0.1',
      port: 3000,
      issuer: 'http://127.0.0.1:3000',
      scopes: ['read', 'write'],
      defaultScope: ['read'],
      accessTokenTtl: 7200,
      refreshTokenTtl: 2592000,
      codeTtl: 60,
      refreshReuseGrace: 0,
      appApproval: 'auto',
      signup: 'closed',
      pruneInterval: 0,
      logLevel: 'info',
      keySecret: undefined,
      idTokenTtl: 3600,
      keyRotation: 0,
    });
  });

  it('reads the OpenID Connect settings', () => {
    const c = loadConfig({ LATCH_KEY_SECRET: 'k'.repeat(32), LATCH_ID_TOKEN_TTL: '600', LATCH_KEY_ROTATION: '86400' });
    expect(c).toMatchObject({ keySecret: 'k'.repeat(32), idTokenTtl: 600, keyRotation: 86400 });
  });

  it('derives the issuer from HOST and PORT and strips a trailing slash from LATCH_ISSUER', () => {
    expect(loadConfig({ HOST: '::1', PORT: '8080' }).issuer).toBe('http://[::1]:8080');
    expect(loadConfig({ LATCH_ISSUER: 'https://auth.example.com/' }).issuer).toBe('https://auth.example.com');
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a port number/],
    ['PORT', '70000', /PORT: expected a port number from 0 to 65535/],
    ['LATCH_ACCESS_TOKEN_TTL', '-5', /LATCH_ACCESS_TOKEN_TTL: expected a lifetime/],
    ['LATCH_APP_APPROVAL', 'sometimes', /LATCH_APP_APPROVAL: expected auto or manual/],
    ['LATCH_SIGNUP', 'yes', /LATCH_SIGNUP: expected open or closed/],
    ['LATCH_ISSUER', 'ftp://x', /LATCH_ISSUER: expected an absolute http\(s\) URL/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres:\/\/ connection string/],
    ['LATCH_SCOPES', 'read "write"', /LATCH_SCOPES: expected space-separated scope names/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: expected one of/],
    ['LATCH_ID_TOKEN_TTL', '1h', /LATCH_ID_TOKEN_TTL: expected a lifetime as a whole number of seconds/],
    ['LATCH_ID_TOKEN_TTL', '0', /LATCH_ID_TOKEN_TTL: expected a lifetime above 0 seconds/],
    ['LATCH_KEY_ROTATION', '-1', /LATCH_KEY_ROTATION: expected an interval/],
    ['LATCH_KEY_SECRET', 'too-short', /LATCH_KEY_SECRET: expected at least 32 characters \(got "…"\)/],
  ])('refuses %s=%s with a line naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('requires LATCH_DEFAULT_SCOPE to be among LATCH_SCOPES', () => {
    expect(() => loadConfig({ LATCH_SCOPES: 'a b', LATCH_DEFAULT_SCOPE: 'c' })).toThrow(/LATCH_DEFAULT_SCOPE: .*unknown: c/);
  });

  it('requires a cookie secret on PostgreSQL, where no data directory keeps one', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y' })).toThrow(/^LATCH_COOKIE_SECRET: required with DATABASE_URL/);
  });

  it('requires a key secret on PostgreSQL too, in one line naming the variable', () => {
    let message = '';
    try {
      loadConfig({ DATABASE_URL: 'postgres://x/y', LATCH_COOKIE_SECRET: 'c'.repeat(32) });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^LATCH_KEY_SECRET: required with DATABASE_URL \(expected at least 32 random characters/);
    expect(message).not.toContain('\n');
    expect(loadConfig({ DATABASE_URL: 'postgres://x/y', LATCH_COOKIE_SECRET: 'c'.repeat(32), LATCH_KEY_SECRET: 'k'.repeat(32) }).keySecret).toBe('k'.repeat(32));
  });

  it('reads the pooler settings: prepared statements on unless off, LISTEN elsewhere only with DATABASE_URL, the URL never echoed', () => {
    const pg = { DATABASE_URL: 'postgres://x@127.0.0.1:6432/y', LATCH_COOKIE_SECRET: 'c'.repeat(32), LATCH_KEY_SECRET: 'k'.repeat(32) };
    expect(loadConfig(pg)).toMatchObject({ preparedStatements: true, listenDatabaseUrl: undefined });
    expect(loadConfig({ ...pg, LATCH_PREPARED_STATEMENTS: 'off', LATCH_LISTEN_DATABASE_URL: 'postgres://x@127.0.0.1:5432/y' })).toMatchObject({
      preparedStatements: false,
      listenDatabaseUrl: 'postgres://x@127.0.0.1:5432/y',
    });
    expect(() => loadConfig({ ...pg, LATCH_PREPARED_STATEMENTS: 'no' })).toThrow(/^LATCH_PREPARED_STATEMENTS: expected on or off/);
    expect(() => loadConfig({ LATCH_LISTEN_DATABASE_URL: 'postgres://x@127.0.0.1:5432/y' })).toThrow(/^LATCH_LISTEN_DATABASE_URL: only with DATABASE_URL/);
    try {
      loadConfig({ ...pg, LATCH_LISTEN_DATABASE_URL: 'mysql://user:hunter2@db/y' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^LATCH_LISTEN_DATABASE_URL: expected a postgres:\/\/ connection string/);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('never echoes a secret value in the error', () => {
    try {
      loadConfig({ LATCH_COOKIE_SECRET: 'short-secret-value' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('LATCH_COOKIE_SECRET');
      expect((err as Error).message).not.toContain('short-secret-value');
    }
  });

  it('stops the server at start with one line, exit code 1 and no stack trace', () => {
    const run = spawnSync(process.execPath, ['dist/src/server.js'], {
      env: { ...process.env, PORT: 'nope' },
      encoding: 'utf8',
      timeout: PROCESS_READY_MS,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('latch: PORT: expected a port number (got "nope")');
    expect(run.stdout).toBe('');
  }, PROCESS_TEST_MS);

  it('stops the server with one line when DATABASE_URL comes without LATCH_KEY_SECRET', () => {
    const run = spawnSync(process.execPath, ['dist/src/server.js'], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LATCH_COOKIE_SECRET: 'c'.repeat(40) },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^latch: LATCH_KEY_SECRET: required with DATABASE_URL \([^\n]*\)\n$/);
    expect(run.stdout).toBe('');
  });
});
