import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { pino, type LoggerOptions } from 'pino';
import { runWorkers } from './cluster.js';
import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { resolveCookieSecret, resolveKeySecret } from './cookie-secret.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { interactiveOutput, loggerOptions } from './logger.js';
import { EmbeddedDatabaseBusyError } from './db/embedded-lock.js';
import { migrateToLatest } from './db/migrate.js';
import { countUsers } from './store/users.js';
import { startHousekeeping } from './housekeeping.js';
import { startMailSender } from './mail/sender.js';
import { watchClientChanges } from './store/client-changes.js';
import { SigningKeyError, SigningKeys } from './oidc/keys.js';

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

  const interactive = interactiveOutput(process.stdout, process.env);
  if (config.workers > 1 && cluster.isPrimary) return primary(config, interactive);
  // In a worker, the primary has migrated and runs the background work (below).
  const worker = cluster.isWorker;

  let handle: DatabaseHandle;
  try {
    // The embedded database is lent to bin/latch over a socket in the data directory while we run.
    handle = await openDatabase(config, { share: true });
    if (!worker) await migrateToLatest(handle.db);
  } catch (err) {
    if (err instanceof EmbeddedDatabaseBusyError) fail(err.message);
    fail(`cannot open the database: ${(err as Error).message}`);
  }

  const app = await buildApp(
    { config, db: handle.db, clock: systemClock, cookieSecret: resolveCookieSecret(config), keySecret: resolveKeySecret(config), pool: handle.pool },
    { logger: loggerOptions(config.logLevel, interactive) },
  );
  try {
    // Keys exist (so the JWKS is never empty) and open under this secret before anything is served.
    await app.signingKeys.start();
  } catch (err) {
    await handle.close();
    fail(err instanceof SigningKeyError ? err.message : `cannot prepare the signing keys: ${(err as Error).message}`);
  }
  const background = worker ? { stopPruning: () => {}, stopMail: async () => {} } : startBackground(config, handle, app.log);
  const { stopPruning, stopMail } = background;
  // A client suspended or re-keyed anywhere (another instance, the CLI) is seen here at once.
  const clientChanges = watchClientChanges(handle, app.log);
  // Before anything is announced: a Ctrl-C or SIGTERM right after the first log line still stops cleanly.
  installStopHandlers(app, handle, stopPruning, stopMail, clientChanges);

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
    `latch listening on http://${hostForUrl}:${port} (database: ${handle.description})`,
  );
  if (cluster.worker?.id !== undefined && cluster.worker.id > 1) return;
  if ((await countUsers(handle.db)) === 0) {
    const next = [
      'bin/latch user create --username alice --password-stdin --admin',
      'bin/latch client create --name "My app" --redirect-uri http://127.0.0.1:8080/callback',
    ];
    const intro = 'No users yet. Next, in another terminal (works while the server runs): create one, then a client:';
    // A person reads lines to copy; a log collector reads one JSON record.
    if (interactive) process.stdout.write(`\n${intro}\n${next.map((c) => `  ${c}\n`).join('')}\n`);
    else app.log.info({ next }, `${intro} ${next.join(' ; ')}`);
  }

}

/** Pruning and e-mail: work for one process, whatever the number serving HTTP. */
function startBackground(config: Config, handle: DatabaseHandle, log: FastifyInstance['log']) {
  const stopPruning = startHousekeeping(config.pruneInterval, handle.db, systemClock, log, config.auditRetention);
  // E-mail goes out from here, never from a request (src/mail/sender.ts).
  const stopMail = startMailSender({ db: handle.db, clock: systemClock, config, log });
  return { stopPruning, stopMail };
}

/**
 * `LATCH_WORKERS` above 1 (PostgreSQL only): this process migrates, makes sure
 * the signing keys exist (so workers never race to create them), runs the
 * background work, and keeps the workers serving; they share the port.
 */
async function primary(config: Config, interactive: boolean): Promise<void> {
  const log = pino(loggerOptions(config.logLevel, interactive) as LoggerOptions);
  let handle: DatabaseHandle;
  try {
    handle = await openDatabase(config);
    await migrateToLatest(handle.db);
  } catch (err) {
    fail(`cannot open the database: ${(err as Error).message}`);
  }
  try {
    const keys = new SigningKeys({ db: handle.db, clock: systemClock, config, keySecret: resolveKeySecret(config), log });
    await keys.ready();
  } catch (err) {
    await handle.close();
    fail(err instanceof SigningKeyError ? err.message : `cannot prepare the signing keys: ${(err as Error).message}`);
  }
  const { stopPruning, stopMail } = startBackground(config, handle, log as unknown as FastifyInstance['log']);
  log.info({ workers: config.workers }, `latch: starting ${config.workers} worker processes`);
  const code = await runWorkers(config.workers, log).done;
  stopPruning();
  await stopMail();
  await handle.close();
  log.info('stopped');
  process.exit(code);
}

function installStopHandlers(
  app: FastifyInstance,
  handle: DatabaseHandle,
  stopPruning: () => void,
  stopMail: () => Promise<void>,
  clientChanges: { stop(): Promise<void> },
): void {
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
      // A hung mail server holds the stop up for the sender's short grace at most.
      await Promise.all([app.close(), stopMail()]);
      await clientChanges.stop();
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
