import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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

  const requests = new Counter({
    name: 'latch_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'latch_http_request_duration_seconds',
    help: 'Time from receiving a request to finishing its answer, by route pattern and method',
    labelNames: ['route', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

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

  // Labelled children, looked up once per route, method and status rather than hashed per request.
  const children = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  return {
    registry,
    observe(route, method, status, seconds) {
      const key = `${status} ${method} ${route}`;
      let child = children.get(key);
      if (!child) {
        child = { count: requests.labels(route, method, String(status)), time: duration.labels(route, method) };
        children.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
  };
}
