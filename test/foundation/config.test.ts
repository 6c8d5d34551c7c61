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
    });
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
});
