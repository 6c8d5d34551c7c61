import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { timeoutOptions } from '../../src/web/connection-limits.js';
import { useTestContext, type TestContext } from '../helpers/app.js';

/** Generous: a busy machine may be slow, but a server without a bound never closes at all. */
const GIVE_UP_MS = 20_000;

/** Starts `t`'s app on a free loopback port and returns the port. */
async function listen(t: TestContext): Promise<number> {
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  return (t.app.server.address() as AddressInfo).port;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the server closes `socket`, with what it sent and how long it took; rejects after GIVE_UP_MS. */
function closedByServer(socket: Socket): Promise<{ data: string; ms: number }> {
  const started = Date.now();
  let data = '';
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server kept the connection ${GIVE_UP_MS} ms; it sent: ${JSON.stringify(data)}`)), GIVE_UP_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, ms: Date.now() - started });
    });
  });
}

/** Writes `chunks` one every 100 ms while the socket is open. */
function trickle(socket: Socket, chunk: string): () => void {
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(chunk);
  }, 100);
  return () => clearInterval(timer);
}

describe('a request that never finishes', () => {
  const t = useTestContext({ LATCH_REQUEST_TIMEOUT: '1' });
  let port: number;
  beforeAll(async () => {
    port = await listen(t);
  });

  it('whose body trickles is closed (408) within the request timeout, while others are served', async () => {
    const socket = await open(port);
    const closed = closedByServer(socket);
    socket.write('POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\ngrant_type=');
    const stop = trickle(socket, 'a');
    try {
      // Meanwhile, a normal request on another connection succeeds.
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(ok.status).toBe(200);
      const { data, ms } = await closed;
      expect(data === '' || data.startsWith('HTTP/1.1 408'), data).toBe(true);
      expect(ms).toBeLessThan(GIVE_UP_MS);
    } finally {
      stop();
      socket.destroy();
    }
  });

  it('whose headers trickle is closed too', async () => {
    const socket = await open(port);
    const closed = closedByServer(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const stop = trickle(socket, 'X-Slow: a\r\n');
    try {
      const { data } = await closed;
      expect(data === '' || data.startsWith('HTTP/1.1 408'), data).toBe(true);
    } finally {
      stop();
      socket.destroy();
    }
  });
});

describe('connections per address', () => {
  const t = useTestContext({ LATCH_MAX_CONNECTIONS_PER_ADDRESS: '3' });
  let port: number;
  beforeAll(async () => {
    port = await listen(t);
  });

  it('past the cap are closed at once; a freed slot serves again', async () => {
    const held = [await open(port), await open(port), await open(port)];
    const extra = await open(port);
    const { data } = await closedByServer(extra);
    expect(data).toBe('');
    held[0]!.destroy();
    // Give the server a moment to see the close, bounded and polled.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' } }).then((r) => r.status, () => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
    for (const s of held) s.destroy();
  });
});

describe('defaults', () => {
  it('bound a request to 30 s, headers to at most that, and cap 256 connections per address', () => {
    const config = loadConfig({});
    expect(config.requestTimeout).toBe(30);
    expect(config.maxConnectionsPerAddress).toBe(256);
    const options = timeoutOptions(config.requestTimeout);
    expect(options.requestTimeout).toBe(30_000);
    expect(options.http.headersTimeout).toBe(30_000);
    expect(options.connectionTimeout).toBeGreaterThan(options.keepAliveTimeout!);
    expect(() => loadConfig({ LATCH_REQUEST_TIMEOUT: '0' })).toThrow(/LATCH_REQUEST_TIMEOUT/);
  });
});
