import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** Longest the workers may take to stop before they are killed. */
const STOP_DEADLINE_MS = 12_000;
/** A worker that keeps dying is a bug or a broken environment, not bad luck: give up rather than loop. */
const MAX_RESTARTS_PER_MINUTE = 5;

export interface Primary {
  /** Resolves with the exit code once every worker has stopped. */
  done: Promise<number>;
}

/**
 * The primary of `LATCH_WORKERS` processes: it forks them, replaces one that
 * dies after it served (a crash must not shrink the server for good), and on
 * SIGTERM or SIGINT passes the signal on and waits for each to finish its
 * in-flight requests. A worker that dies before it ever listened means every
 * worker would (a taken port, a bad environment): then all stop and it fails.
 */
export function runWorkers(count: number, log: Logger): Primary {
  let stopping = false;
  let exitCode = 0;
  const restarts: number[] = [];
  const listened = new WeakSet<Worker>();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: live().length }, 'stopping: workers finish their in-flight requests');
    for (const w of live()) w.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      log.error('stop deadline passed; killing the workers');
      for (const w of live()) w.process.kill('SIGKILL');
      exitCode = 1;
    }, STOP_DEADLINE_MS);
    deadline.unref();
    if (live().length === 0) resolveDone(exitCode);
  };

  cluster.on('listening', (worker) => listened.add(worker));
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0 && code !== null) exitCode = 1;
      if (live().length === 0) resolveDone(exitCode);
      return;
    }
    if (!listened.has(worker)) {
      log.error({ pid: worker.process.pid, code, signal }, 'a worker stopped before it listened; stopping');
      exitCode = 1;
      stopAll('SIGTERM');
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      log.error({ restarts: restarts.length }, 'workers keep dying; stopping');
      exitCode = 1;
      stopAll('SIGTERM');
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'a worker died; starting another');
    cluster.fork();
  });

  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  for (let i = 0; i < count; i++) cluster.fork();
  return { done };
}
