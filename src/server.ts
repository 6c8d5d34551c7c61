import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { resolveCookieSecret, resolveKeySecret } from './cookie-secret.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { EmbeddedDatabaseBusyError } from './db/embedded-lock.js';
import { migrateToLatest } from './db/migrate.js';
import { countUsers } from './store/users.js';
import { startPruneTimer } from './housekeeping.js';
import { SigningKeyError } from './oidc/keys.js';

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }

  let handle: DatabaseHandle;
  try {
    handle = await openDatabase(config);
    await migrateToLatest(handle.db);
  } catch (err) {
    if (err instanceof EmbeddedDatabaseBusyError) fail(err.message);
    fail(`cannot open the database: ${(err as Error).message}`);
  }

  const app = await buildApp({
    config,
    db: handle.db,
    clock: systemClock,
    cookieSecret: resolveCookieSecret(config),
    keySecret: resolveKeySecret(config),
    pool: handle.pool,
  });
  try {
    // Keys exist (so the JWKS is never empty) and open under this secret before anything is served.
    await app.signingKeys.start();
  } catch (err) {
    await handle.close();
    fail(err instanceof SigningKeyError ? err.message : `cannot prepare the signing keys: ${(err as Error).message}`);
  }
  const stopPruning = startPruneTimer(config.pruneInterval, handle.db, systemClock, app.log);

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await handle.close();
    fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  app.log.info(
    { url: `http://${hostForUrl}:${port}`, issuer: config.issuer, database: handle.mode },
    `latch listening on http://${hostForUrl}:${port} (database: ${handle.mode === 'embedded' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL'})`,
  );
  if ((await countUsers(handle.db)) === 0) {
    app.log.info(
      'No users yet. Next: create one, then a client:\n' +
        '  bin/latch user create --username alice --password-stdin --admin\n' +
        '  bin/latch client create --name "My app" --redirect-uri http://127.0.0.1:8080/callback',
    );
  }

  installStopHandlers(app, handle, stopPruning);
}

function installStopHandlers(app: FastifyInstance, handle: DatabaseHandle, stopPruning: () => void): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'stopping: finishing in-flight requests');
    const deadline = setTimeout(() => {
      app.log.error('stop deadline passed; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    stopPruning();
    try {
      await app.close();
      await handle.close();
      app.log.info('stopped');
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, 'error while stopping');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function fail(message: string): never {
  process.stderr.write(`latch: ${message}\n`);
  process.exit(1);
}

main().catch((err) => {
  fail((err as Error).message);
});
