import { SMTPServer } from 'smtp-server';

/** One message as a real SMTP server received it, with its parts decoded. */
export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Record<string, string>;
  text: string;
  html: string;
}

export interface TestSmtpServer {
  port: number;
  received: ReceivedMail[];
  /** Connections accepted so far (a stalled one counts). */
  connections: number;
  /** While true, the server takes a message in and never answers it. */
  stall: boolean;
  /** Messages taken in and left unanswered so far. */
  stalled: number;
  /** Resolves once `count` messages arrived; fails with what arrived after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Resolves once a message is stalled (see `stall`); fails after `timeoutMs`. */
  waitForStall(timeoutMs?: number): Promise<void>;
  /** Closes the port, cutting open connections. */
  close(): Promise<void>;
}

export interface TestSmtpOptions {
  /** 0 (default): a free loopback port. */
  port?: number;
  /** Credentials the server insists on; none: no AUTH. */
  auth?: { user: string; pass: string };
}

/** A real SMTP server (smtp-server from npm) on loopback, collecting what it receives. */
export async function startSmtpServer(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const state = { stall: false, connections: 0, stalled: 0 };
  const server = new SMTPServer({
    logger: false,
    // Plain SMTP on loopback: no STARTTLS (its built-in certificate would not verify), AUTH allowed anyway.
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !options.auth,
    closeTimeout: 100,
    onConnect(_session, callback) {
      state.connections++;
      callback();
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('Authentication failed'), { responseCode: 535 }));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (state.stall) {
          state.stalled++;
          return; // never answers: the client waits on its own timeouts
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          ...parseMessage(raw),
        });
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;

  const poll = async (done: () => boolean, timeoutMs: number, what: () => string) => {
    const until = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > until) throw new Error(what());
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    port,
    received,
    get connections() {
      return state.connections;
    },
    get stalled() {
      return state.stalled;
    },
    get stall() {
      return state.stall;
    },
    set stall(v: boolean) {
      state.stall = v;
    },
    async waitFor(count, timeoutMs = 20_000) {
      await poll(() => received.length >= count, timeoutMs, () => `expected ${count} mails within ${timeoutMs} ms, got ${received.length}`);
      return received;
    },
    async waitForStall(timeoutMs = 20_000) {
      await poll(() => state.stalled > 0, timeoutMs, () => `no message stalled within ${timeoutMs} ms (${state.connections} connections)`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Splits a raw RFC 5322 message (one level of multipart) and decodes its text and HTML parts. */
export function parseMessage(raw: string): { raw: string; headers: Record<string, string>; text: string; html: string } {
  const { headers, body } = splitHeaders(raw);
  const parts: Array<{ headers: Record<string, string>; body: string }> = [];
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      parts.push(splitHeaders(chunk.replace(/^\r?\n/, '')));
    }
  } else {
    parts.push({ headers, body });
  }
  const part = (type: string) => {
    const p = parts.find((x) => (x.headers['content-type'] ?? 'text/plain').toLowerCase().startsWith(type));
    return p ? decodeBody(p.body, p.headers['content-transfer-encoding'] ?? '7bit') : '';
  };
  return { raw, headers, text: part('text/plain'), html: part('text/html') };
}

function splitHeaders(s: string): { headers: Record<string, string>; body: string } {
  const end = s.search(/\r?\n\r?\n/);
  const head = end === -1 ? s : s.slice(0, end);
  const body = end === -1 ? '' : s.slice(end).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string): string {
  const enc = encoding.toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const escaped = body.replace(/%/g, '%25').replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, '%$1');
    return decodeURIComponent(escaped);
  }
  return body;
}
