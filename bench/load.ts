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
  /** A fixed body, or with `{{item}}` replaced by the next of `items` (each used once). */
  body?: string;
  items?: string[];
  /** Where `{{item}}` goes when not in the body: the Authorization header. */
  itemIn?: 'body' | 'authorization';
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
  exhausted: boolean;
}

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadJob;
let next = 0;
let exhausted = false;
const take = (): string => {
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
      ...(job.items
        ? {
            setupRequest: (req) =>
              job.itemIn === 'authorization'
                ? { ...req, headers: { ...req.headers, authorization: `Bearer ${take()}` } }
                : { ...req, body: job.body!.replace('{{item}}', take()) },
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
};
process.stdout.write(JSON.stringify(out) + '\n');
