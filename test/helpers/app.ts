import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { AppClock } from './clock.js';
import { testDatabase, type TestDatabase } from './db.js';

export interface TestContext {
  app: FastifyInstance;
  db: TestDatabase['db'];
  handle: TestDatabase;
  /** Still unless a test took its own clock (withClock in ./clock.ts). */
  clock: AppClock;
  config: Config;
  close(): Promise<void>;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    LATCH_DATA_DIR: '/nonexistent-latch-test',
    LOG_LEVEL: 'silent',
    LATCH_KEY_SECRET: 'test-key-secret-0123456789abcdef0123',
    ...env,
  });
}

/** One app over one fresh database; close() it. Most files want useTestContext instead. */
export async function createTestContext(env: Record<string, string> = {}): Promise<TestContext> {
  const handle = await testDatabase();
  const config = testConfig(env);
  const clock = new AppClock();
  const app = await buildApp({ config, db: handle.db, clock, cookieSecret: 'test-cookie-secret-0123456789abcdef', pool: handle.pool }, { logger: false });
  await app.ready();
  return {
    app,
    db: handle.db,
    handle,
    clock,
    config,
    close: async () => {
      await app.close();
      await handle.close();
    },
  };
}

/**
 * One app over one fresh database for the enclosing file or describe: built before
 * its first test, closed after its last. The returned object is filled in by then,
 * so read it only inside hooks and tests.
 */
export function useTestContext(env: Record<string, string> = {}): TestContext {
  const t = {} as TestContext;
  beforeAll(async () => {
    Object.assign(t, await createTestContext(env));
  });
  afterAll(async () => {
    await t.close?.();
  });
  return t;
}
