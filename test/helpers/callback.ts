import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An app's redirect target: a tiny local server that records what it was sent. */
export async function startCallbackServer(): Promise<{ server: Server; port: number; hits: URL[]; close(): Promise<void> }> {
  const hits: URL[] = [];
  const server = createServer((req, res) => {
    hits.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>callback</title><p id="callback">received</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
