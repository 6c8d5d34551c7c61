import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import { testDatabase, type TestDatabase } from './db.js';

export interface TestContext {
  app: FastifyInstance;
  db: TestDatabase['db'];
  handle: TestDatabase;
  clock: ManualClock;
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

/** One app over one fresh database, for a whole test file (beforeAll/afterAll). */
export async function createTestContext(env: Record<string, string> = {}): Promise<TestContext> {
  const handle = await testDatabase();
  const config = testConfig(env);
  const clock = new ManualClock();
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
