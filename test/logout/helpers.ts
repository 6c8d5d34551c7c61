import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import { insertCode } from '../../src/store/codes.js';
import type { TestContext } from '../helpers/app.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { challengeOf, newVerifier } from '../helpers/pkce.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';

export const REDIRECT = 'https://app.example/callback';

/** A live browser session for `userId`, with its public sid (what codes, grants and logout tokens carry). */
export async function sessionOf(t: TestContext, userId: string): Promise<SignedIn & { sid: string }> {
  const before = new Set((await t.db.selectFrom('sessions').select('sid').where('user_id', '=', userId).execute()).map((r) => r.sid));
  const who = await signedInAs(t, userId);
  const rows = await t.db.selectFrom('sessions').select('sid').where('user_id', '=', userId).execute();
  return { ...who, sid: rows.find((r) => !before.has(r.sid))!.sid };
}

/**
 * The tokens an app gets when `session` signs in to it: a code carrying the
 * session's sid, exchanged at the token endpoint (scope openid: with an ID token).
 */
export async function signInToApp(t: TestContext, client: { id: string; client_id: string; secret: string | null }, userId: string, sid: string) {
  const code = newSecret(PREFIX.code);
  const verifier = newVerifier();
  const now = t.clock.now();
  await insertCode(
    t.db,
    {
      code_digest: digest(code),
      client_id: client.id,
      user_id: userId,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challengeOf(verifier),
      code_challenge_method: 'S256',
      expires_at: addSeconds(now, 60),
      created_at: now,
    },
    { sid, authTime: now, amr: ['pwd'] },
  );
  const r = await clientPost(t.app, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, asAuth(client));
  if (r.statusCode !== 200) throw new Error(`code exchange failed: ${r.body}`);
  return r.json() as { id_token: string; access_token: string };
}

export const sessionCount = async (t: TestContext, userId: string) =>
  Number((await t.db.selectFrom('sessions').select((e) => e.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);

/** A relying party's back-channel logout endpoint: records each POST; `respond` decides the answer (default 200). */
export async function startReceiver(respond: (req: IncomingMessage) => number | null = () => 200) {
  const received: { body: URLSearchParams; contentType: string | undefined }[] = [];
  const waiters: (() => void)[] = [];
  const held: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ body: new URLSearchParams(body), contentType: req.headers['content-type'] });
      waiters.splice(0).forEach((w) => w());
      const status = respond(req);
      if (status === null) held.push(() => res.writeHead(200).end());
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    uri: `http://127.0.0.1:${port}/backchannel`,
    received,
    /** Resolves once `n` POSTs have arrived. */
    async waitFor(n: number) {
      while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    release: () => held.splice(0).forEach((r) => r()),
    close: () =>
      new Promise<void>((resolve) => {
        held.splice(0).forEach((r) => r());
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
