import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type pg from 'pg';

/**
 * Events the OAuth layer counts. They live at module level so grant code can
 * count without being handed the app; `registers: []` keeps them out of the
 * global registry, and each app's registry (see createMetricsRegistry) adds them.
 * Values are per process; one process serves one app in production.
 */
export const metrics = {
  /** Call once per token response, with the grant_type that produced it. */
  tokensIssued: new Counter({
    name: 'latch_tokens_issued_total',
    help: 'Access tokens issued, by grant type',
    labelNames: ['grant'] as const,
    registers: [],
  }),
  /** A retired refresh token was presented again and its family revoked. */
  refreshReuse: new Counter({
    name: 'latch_refresh_token_reuse_total',
    help: 'Replays of a retired refresh token (each revokes its family)',
    registers: [],
  }),
  /** A sign-in (login page or password grant) was refused with 429. */
  loginThrottled: new Counter({
    name: 'latch_login_throttled_total',
    help: 'Sign-in attempts refused by throttling',
    registers: [],
  }),
  /** A password was checked with argon2 at sign-in (throttled attempts never are). */
  passwordVerifications: new Counter({
    name: 'latch_password_verifications_total',
    help: 'Passwords checked at sign-in (login page and password grant)',
    registers: [],
  }),
};

/** Latency buckets in seconds: fine below 25 ms, where a healthy token endpoint answers. */
const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface HttpMetrics {
  registry: Registry;
  /** Records one answered request; `route` is the route pattern, never the raw URL. */
  observe(route: string, method: string, status: number, seconds: number): void;
}

/** One registry per app instance, so apps built side by side in tests never collide. */
export function createMetricsRegistry(pool?: pg.Pool): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const metric of Object.values(metrics)) registry.registerMetric(metric);

  const http = new RequestMetrics(LATENCY_BUCKETS);
  registry.registerMetric(http.counter('latch_http_requests_total', 'HTTP requests answered, by route pattern, method and status') as never);
  registry.registerMetric(
    http.histogram('latch_http_request_duration_seconds', 'Time from receiving a request to finishing its answer, by route pattern and method') as never,
  );

  if (pool) {
    const poolGauge = (name: string, help: string, read: (p: pg.Pool) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(pool));
        },
      });
    poolGauge('latch_db_pool_connections', 'Open connections in the PostgreSQL pool', (p) => p.totalCount);
    poolGauge('latch_db_pool_idle', 'Idle connections in the PostgreSQL pool', (p) => p.idleCount);
    poolGauge('latch_db_pool_waiting', 'Queries waiting for a pool connection', (p) => p.waitingCount);
  }

  return { registry, observe: (route, method, status, seconds) => http.observe(route, method, status, seconds) };
}

interface Series {
  route: string;
  method: string;
  status: string;
  count: number;
}

interface Timing {
  route: string;
  method: string;
  /** Observations per bucket (not cumulative), the last one past every bound (+Inf). */
  buckets: Float64Array;
  sum: number;
  count: number;
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * The request counter and latency histogram, kept as plain numbers per route,
 * method and status and turned into prom-client's exposition format only when
 * scraped. prom-client's own Counter and Histogram validate and hash the label
 * set on every observation: at the token endpoint's rates that was a few
 * percent of each request. The output is the same (counter and histogram types,
 * cumulative `le` buckets with `+Inf`, `_sum` and `_count`).
 */
class RequestMetrics {
  private readonly counts = new Map<string, Series>();
  private readonly timings = new Map<string, Timing>();

  constructor(private readonly bounds: readonly number[]) {}

  observe(route: string, method: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let series = this.counts.get(key);
    if (!series) {
      series = { route, method, status: String(status), count: 0 };
      this.counts.set(key, series);
    }
    series.count++;
    const timingKey = `${method} ${route}`;
    let timing = this.timings.get(timingKey);
    if (!timing) {
      timing = { route, method, buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.timings.set(timingKey, timing);
    }
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    timing.buckets[i]!++;
    timing.sum += seconds;
    timing.count++;
  }

  /** A metric prom-client's registry can expose (the shape its own metrics have). */
  counter(name: string, help: string) {
    const get = async () => ({
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      values: [...this.counts.values()].map((s): Sample => ({ labels: { route: s.route, method: s.method, status: s.status }, value: s.count })),
    });
    return { name, help, type: 'counter', aggregator: 'sum', get, reset: () => this.counts.clear() };
  }

  histogram(name: string, help: string) {
    const get = async () => {
      const values: Sample[] = [];
      for (const t of this.timings.values()) {
        const labels = { route: t.route, method: t.method };
        let cumulative = 0;
        this.bounds.forEach((le, i) => {
          cumulative += t.buckets[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: t.count });
        values.push({ metricName: `${name}_sum`, labels, value: t.sum });
        values.push({ metricName: `${name}_count`, labels, value: t.count });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    };
    return { name, help, type: 'histogram', aggregator: 'sum', get, reset: () => this.timings.clear() };
  }
}
