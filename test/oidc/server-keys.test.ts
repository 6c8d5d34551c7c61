import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../helpers/server.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A first start (PGlite init, migrations, key generation) is slow on a busy machine: generous, bounded waits. */
const START_MS = 150_000;
const TEST_MS = 2 * START_MS + 60_000;

const kids = async (server: RunningServer) => {
  const r = await fetch(`${server.url}/oauth/jwks`);
  expect(r.status).toBe(200);
  return ((await r.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
};

describe('signing keys in the real server', () => {
  it('embedded: generates LATCH_KEY_SECRET into the data directory, serves keys from the first request, and opens them after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latch-keys-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await startServer({ LATCH_DATA_DIR: dataDir }, START_MS);
    let before: string[];
    try {
      before = await kids(first);
      expect(before).toHaveLength(6);
    } finally {
      expect((await first.stop()).code).toBe(0);
    }
    expect(statSync(join(dataDir, 'key-secret')).mode & 0o777).toBe(0o600);
    const second = await startServer({ LATCH_DATA_DIR: dataDir }, START_MS);
    try {
      expect(await kids(second)).toEqual(before);
    } finally {
      await second.stop();
    }
  }, TEST_MS);

  it('PostgreSQL: a changed LATCH_KEY_SECRET stops the server at start with one line naming the variable', async () => {
    const database = await freshPostgresDatabase(await requirePostgresServer());
    cleanups.push(() => database.drop());
    const env = { DATABASE_URL: database.url, LATCH_COOKIE_SECRET: 'c'.repeat(40) };
    const server = await startServer({ ...env, LATCH_KEY_SECRET: 'k'.repeat(40) }, START_MS);
    await server.stop();
    const refused = await startServer({ ...env, LATCH_KEY_SECRET: 'z'.repeat(40) }, START_MS).then(
      (s) => s.stop().then(() => 'started'),
      (err: Error) => err.message,
    );
    const lines = refused.split('\n').filter((l) => l.startsWith('latch:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^latch: LATCH_KEY_SECRET: the signing key \S+ does not open under this secret/);
    expect(refused).not.toContain('z'.repeat(40));
  }, TEST_MS);
});
