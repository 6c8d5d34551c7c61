import net from 'node:net';

export interface TcpProxy {
  /** Where clients connect: 127.0.0.1 and this port. */
  port: number;
  /** Drops every open connection and refuses new ones, as a dead database server would. */
  cut(): void;
  /** Swallows traffic silently, as a network partition does: connections open but nothing answers. */
  hang(): void;
  /** Forwards again (connections left from a hang are dropped). */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target` that a test can cut and restore. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let cut = false;
  let hung = false;
  const open = new Set<net.Socket>();
  const held = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    // A reset on either side is expected here; it must not crash the test process.
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    if (hung) {
      held.add(client);
      client.pause();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
    },
    hang() {
      hung = true;
      for (const s of open) {
        s.unpipe();
        s.pause();
        held.add(s);
      }
    },
    restore() {
      cut = false;
      hung = false;
      for (const s of held) s.destroy();
      held.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
