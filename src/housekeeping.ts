import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from './db/schema.js';
import type { Clock } from './clock.js';
import { addSeconds } from './clock.js';
import { LONGEST_ATTEMPT_WINDOW_SECONDS } from './accounts/throttle.js';
import { pruneExpired, pruneLoginAttempts, prunePendingSignins, type PruneCounts } from './store/prune.js';

/** Revoked rows are kept this long after they end, for audits and reuse detection. */
export const PRUNE_RETENTION_SECONDS = 24 * 3600;
export const DEFAULT_AUDIT_RETENTION = 7776000;

/**
 * How often sign-in and sign-up counters past their window (and expired half-done sign-ins) are deleted, always:
 * unauthenticated guessers create them, so they must not wait for an operator
 * to turn pruning on.
 */
export const ATTEMPT_PRUNE_INTERVAL_SECONDS = 60;

/** `auditRetention`: seconds audit events are kept (LATCH_AUDIT_RETENTION). */
export function prune(db: Kysely<Database>, clock: Clock, auditRetention = DEFAULT_AUDIT_RETENTION): Promise<PruneCounts> {
  const now = clock.now();
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
  return pruneExpired(db, now, ago(PRUNE_RETENTION_SECONDS), undefined, ago(auditRetention));
}

/** The server's background work: counters always, everything else every LATCH_PRUNE_INTERVAL seconds (0: never). */
export function startHousekeeping(
  pruneIntervalSeconds: number,
  db: Kysely<Database>,
  clock: Clock,
  log: FastifyBaseLogger,
  auditRetention = DEFAULT_AUDIT_RETENTION,
): () => void {
  const stopPruning = startPruneTimer(pruneIntervalSeconds, db, clock, log, auditRetention);
  const stopAttempts = every(ATTEMPT_PRUNE_INTERVAL_SECONDS, log, async () => {
    const now = clock.now();
    const n = await pruneLoginAttempts(db, now, addSeconds(now, -LONGEST_ATTEMPT_WINDOW_SECONDS));
    // Half-done sign-ins come from whoever knows a password: like the counters, they must not wait for an operator.
    const pending = await prunePendingSignins(db, now);
    if (n > 0 || pending > 0) log.debug({ pruned: { login_attempts: n, pending_signins: pending } }, 'pruned stale sign-in counters and half-done sign-ins');
  });
  return () => {
    stopPruning();
    stopAttempts();
  };
}

/** Prunes every `intervalSeconds` (0: never); returns the function that stops it. */
export function startPruneTimer(
  intervalSeconds: number,
  db: Kysely<Database>,
  clock: Clock,
  log: FastifyBaseLogger,
  auditRetention = DEFAULT_AUDIT_RETENTION,
): () => void {
  return every(intervalSeconds, log, async () => {
    const counts = await prune(db, clock, auditRetention);
    log.info({ pruned: counts }, 'pruned expired rows');
  });
}

/** Runs `task` every `seconds` (0: never), one run at a time; a failed run is logged and retried next time. */
function every(seconds: number, log: FastifyBaseLogger, task: () => Promise<void>): () => void {
  if (seconds <= 0) return () => {};
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await task();
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'prune failed; will retry');
    } finally {
      running = false;
    }
  }, seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
