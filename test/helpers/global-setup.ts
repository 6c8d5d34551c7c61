import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openEmbedded } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server each test file makes its own database on; unset means PGlite. */
    postgresUrl: string | undefined;
    /** A migrated PGlite data directory dump each test file starts from. */
    pgliteDump: string | undefined;
    databaseKind: string;
  }
}

/**
 * Picks the test database once per run: TEST_DATABASE_URL; else a PostgreSQL
 * container when Docker answers; else embedded PGlite.
 */
export default async function setup(project: TestProject) {
  const cleanups: Array<() => Promise<void>> = [];
  let postgresUrl = process.env.TEST_DATABASE_URL || undefined;
  let kind = postgresUrl ? 'PostgreSQL (TEST_DATABASE_URL)' : '';

  if (!postgresUrl && process.env.LATCH_TEST_DOCKER !== '0') {
    const started = await startContainer();
    if (started) {
      postgresUrl = started.url;
      kind = 'PostgreSQL (testcontainers)';
      cleanups.push(started.stop);
    }
  }

  let pgliteDump: string | undefined;
  if (!postgresUrl) {
    kind = 'embedded PGlite';
    const dir = mkdtempSync(join(tmpdir(), 'latch-test-'));
    const handle = await openEmbedded(null);
    await migrateToLatest(handle.db);
    // Dumping a migrated database once spares every test file initdb and migrations.
    const dump = await handle.embedded!.dump();
    pgliteDump = join(dir, 'migrated.tar');
    writeFileSync(pgliteDump, Buffer.from(await dump.arrayBuffer()));
    await handle.close();
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  }

  process.stdout.write(`latch tests on ${kind}\n`);
  project.provide('postgresUrl', postgresUrl);
  project.provide('pgliteDump', pgliteDump);
  project.provide('databaseKind', kind);
  return async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
}

/** Starts PostgreSQL 16 in Docker, or returns null at once when no Docker engine answers. */
async function startContainer(): Promise<{ url: string; stop: () => Promise<void> } | null> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await withTimeout(getContainerRuntimeClient(), 15_000);
  } catch {
    process.stdout.write('Docker is not available: testcontainers skipped\n');
    return null;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:16-alpine').start();
  return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}
