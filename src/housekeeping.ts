import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from './db/schema.js';
import type { Clock } from './clock.js';
import { pruneExpired, type PruneCounts } from './store/prune.js';

/** Revoked rows are kept this long after they end, for audits and reuse detection. */
export const PRUNE_RETENTION_SECONDS = 24 * 3600;
export const DEFAULT_AUDIT_RETENTION = 7776000;

/** `auditRetention`: seconds audit events are kept (LATCH_AUDIT_RETENTION). */
export function prune(db: Kysely<Database>, clock: Clock, auditRetention = DEFAULT_AUDIT_RETENTION): Promise<PruneCounts> {
  const now = clock.now();
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  return pruneExpired(db, now, ago(PRUNE_RETENTION_SECONDS), undefined, ago(auditRetention));
}

/** Prunes every `intervalSeconds` (0: never); returns the function that stops it. */
export function startPruneTimer(
  intervalSeconds: number,
  db: Kysely<Database>,
  clock: Clock,
  log: FastifyBaseLogger,
  auditRetention = DEFAULT_AUDIT_RETENTION,
): () => void {
  if (intervalSeconds <= 0) return () => {};
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      const counts = await prune(db, clock, auditRetention);
      log.info({ pruned: counts }, 'pruned expired rows');
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'prune failed; will retry');
    } finally {
      running = false;
    }
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
