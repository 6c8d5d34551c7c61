import http from 'node:http';

export type HttpOutcome =
  | { kind: 'answer'; status: number; headers: http.IncomingHttpHeaders; body: string; complete: boolean; at: number }
  | { kind: 'refused'; code: string; at: number };

/**
 * One request on a connection of its own (no keep-alive), so "was it accepted"
 * has a clear answer: either a full response, or a connection-level error with no
 * response byte. Never rejects; gives up after `timeoutMs`.
 */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ kind: 'answer', status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), complete: res.complete, at: performance.now() }),
      );
      res.on('error', () =>
        resolve({ kind: 'answer', status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), complete: false, at: performance.now() }),
      );
    });
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ kind: 'refused', code: err.code ?? err.message, at: performance.now() }));
    req.end(options.body);
  });
}
