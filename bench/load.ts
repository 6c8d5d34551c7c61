/**
 * Drives one server with autocannon, in a process of its own so the load
 * generator's CPU is not the server's. Reads a job (JSON file path in argv[2])
 * and prints the result as one JSON line.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadJob {
  url: string;
  connections: number;
  seconds: number;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** A fixed body, or with `{{item}}` replaced by the next of `items` (each used once, unless `cycle`). */
  body?: string;
  items?: string[];
  /** Reuse `items` round-robin instead of running out (for reads, such as introspecting many live tokens). */
  cycle?: boolean;
  /** Where `{{item}}` goes when not in the body: the Authorization header. */
  itemIn?: 'body' | 'authorization';
  /**
   * Spread the requests over this many client addresses with X-Forwarded-For
   * (for a server that trusts the loopback proxy): per-address limits then see
   * many users, as behind a real reverse proxy.
   */
  addresses?: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
  exhausted: boolean;
  /** Responses by status code, e.g. {"200": 5000, "429": 3}. */
  statuses: Record<string, number>;
}

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadJob;
let next = 0;
let sent = 0;
let exhausted = false;
const take = (): string => {
  if (job.cycle) return job.items![next++ % job.items!.length]!;
  if (next >= job.items!.length) {
    exhausted = true;
    return job.items![job.items!.length - 1]!;
  }
  return job.items![next++]!;
};

const result = await autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.seconds,
  requests: [
    {
      method: job.method,
      path: job.path,
      headers: job.headers,
      body: job.body,
      ...(job.items || job.addresses
        ? {
            setupRequest: (req) => {
              let out = req;
              if (job.items) {
                out =
                  job.itemIn === 'authorization'
                    ? { ...out, headers: { ...out.headers, authorization: `Bearer ${take()}` } }
                    : { ...out, body: job.body!.replace('{{item}}', take()) };
              }
              if (job.addresses) {
                const i = sent++ % job.addresses;
                out = { ...out, headers: { ...out.headers, 'x-forwarded-for': `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}` } };
              }
              return out;
            },
          }
        : {}),
    },
  ],
});

const out: LoadResult = {
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  errors: result.errors + result.timeouts,
  non2xx: result.non2xx,
  total: result.requests.total,
  exhausted,
  statuses: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count])),
};
process.stdout.write(JSON.stringify(out) + '\n');
