/**
 * Loaded into latch with `node --import` by the benchmark (never in production):
 * measures latch's own event-loop delay without touching src/. On SIGUSR2 it
 * writes {"p99_ms","max_ms"} since the last signal to BENCH_ELD_FILE, then resets.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_ELD_FILE;
if (file) {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  process.on('SIGUSR2', () => {
    writeFileSync(file, JSON.stringify({ p99_ms: Number((eld.percentile(99) / 1e6).toFixed(2)), max_ms: Number((eld.max / 1e6).toFixed(2)) }));
    eld.reset();
  });
}
