import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { digest } from '../../src/crypto/secrets.js';
import { loggerOptions } from '../../src/logger.js';
import { DEVICE_CODE_GRANT_TYPE } from '../../src/oauth/device.js';
import { findConsentScope } from '../../src/store/consents.js';
import { pruneExpired } from '../../src/store/prune.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { asAuth, clientPost as post, cookiesFrom, form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';
import { TEST_EPOCH } from '../helpers/clock.js';
import { ManualClock } from '../../src/clock.js';

let t: TestContext;
const clock = new ManualClock(TEST_EPOCH);
let user: Awaited<ReturnType<typeof makeUser>>;
let tv: Awaited<ReturnType<typeof makeClient>>;
let cli: Awaited<ReturnType<typeof makeClient>>;
let alice: SignedIn;

beforeAll(async () => {
  t = await createTestContext();
  // These tests move one file-wide clock in order (codes age across the describe).
  t.clock.use(clock);
  user = await makeUser(t);
  tv = await makeClient(t, { name: 'Living Room TV', redirectUris: [], grantTypes: ['device_code', 'refresh_token'] });
  cli = await makeClient(t, { name: 'Shell Tool', confidential: false, redirectUris: [], grantTypes: [DEVICE_CODE_GRANT_TYPE] });
  alice = await signedInAs(t, user.id);
});
afterAll(() => t.close());

type Client = Awaited<ReturnType<typeof makeClient>>;
const start = (client: Client, params: Record<string, string> = {}) => post(t.app, '/oauth/device_authorization', params, asAuth(client));
const poll = (client: Client, deviceCode: string) => post(t.app, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode }, asAuth(client));

async function begin(client: Client = tv, params: Record<string, string> = {}) {
  const r = await start(client, params);
  expect(r.statusCode).toBe(200);
  return r.json() as { device_code: string; user_code: string; verification_uri_complete: string };
}

/** The user's part through the pages, signed in: code form, consent, decision. */
async function decide(userCode: string, decision: 'allow' | 'deny', who: SignedIn = alice) {
  const confirm = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: who.csrf('/device'), user_code: userCode }), headers: { ...form({}).headers, cookie: who.cookie } });
  expect(confirm.statusCode).toBe(200);
  expect(confirm.body).toContain('id="consent-form"');
  const r = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: who.csrf('/device'), user_code: field(confirm.body, 'user_code')!, decision }), headers: { ...form({}).headers, cookie: who.cookie } });
  expect(r.statusCode).toBe(200);
  expect(r.body).toContain('id="device-done"');
  return r;
}

describe('POST /oauth/device_authorization', () => {
  it('answers RFC 8628 §3.2: a device code, a XXXX-XXXX user code, both verification URIs, expires_in and interval, not cached', async () => {
    const r = await start(tv, { scope: 'read' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = r.json();
    expect(body).toEqual({
      device_code: expect.stringMatching(/^latch_dc_[A-Za-z0-9_-]{43}$/),
      user_code: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      verification_uri: `${t.config.issuer}/device`,
      verification_uri_complete: `${t.config.issuer}/device?user_code=${body.user_code}`,
      expires_in: 600,
      interval: 5,
    });
  });

  it('keeps both codes only as SHA-256 digests', async () => {
    const { device_code, user_code } = await begin();
    const rows = JSON.stringify(await t.db.selectFrom('device_codes').selectAll().execute());
    expect(rows).not.toContain(device_code);
    expect(rows).not.toContain(user_code);
    expect(rows).not.toContain(user_code.replace('-', ''));
    expect(rows).toContain(digest(device_code));
    expect(rows).toContain(digest(user_code.replace('-', '')));
  });

  it('works for public clients (client_id only), and refuses a public client that sends a secret', async () => {
    expect((await start(cli)).statusCode).toBe(200);
    const r = await post(t.app, '/oauth/device_authorization', { client_id: cli.client_id, client_secret: 'x' });
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
  });

  it('refuses unknown clients, clients without the device grant, and scopes the client may not have', async () => {
    const unknown = await post(t.app, '/oauth/device_authorization', { client_id: 'nobody' });
    expect([unknown.statusCode, unknown.json().error]).toEqual([401, 'invalid_client']);
    const web = await makeClient(t);
    const r = await start(web);
    expect([r.statusCode, r.json().error]).toEqual([400, 'unauthorized_client']);
    const bad = await start(tv, { scope: 'admin' });
    expect([bad.statusCode, bad.json().error]).toEqual([400, 'invalid_scope']);
  });

  it('is advertised in the metadata with the grant type', async () => {
    const m = (await t.app.inject('/.well-known/oauth-authorization-server')).json();
    expect(m.device_authorization_endpoint).toBe(`${t.config.issuer}/oauth/device_authorization`);
    expect(m.grant_types_supported).toContain(DEVICE_CODE_GRANT_TYPE);
  });

  it('stores --grant-types device_code as the grant type URI', async () => {
    const row = await t.db.selectFrom('clients').select('grant_types').where('id', '=', tv.id).executeTakeFirstOrThrow();
    expect(row.grant_types).toEqual([DEVICE_CODE_GRANT_TYPE, 'refresh_token']);
  });
});

describe('polling the token endpoint', () => {
  it('answers authorization_pending, slow_down when polled within 5 seconds, pending again once the client waits', async () => {
    const { device_code } = await begin();
    const first = await poll(tv, device_code);
    expect([first.statusCode, first.json().error]).toEqual([400, 'authorization_pending']);
    clock.advance(4);
    expect((await poll(tv, device_code)).json().error).toBe('slow_down');
    clock.advance(5);
    expect((await poll(tv, device_code)).json().error).toBe('authorization_pending');
  });

  it('after Allow: tokens once (with a refresh token when the client has that grant), then invalid_grant; the consent is remembered', async () => {
    const { device_code, user_code } = await begin(tv, { scope: 'read write' });
    await decide(user_code, 'allow');
    const r = await poll(tv, device_code);
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.json()).toMatchObject({ access_token: expect.stringMatching(/^latch_at_/), refresh_token: expect.stringMatching(/^latch_rt_/), token_type: 'Bearer', scope: 'read write' });
    const me = await t.app.inject({ url: '/oauth/userinfo', headers: { authorization: `Bearer ${r.json().access_token}` } });
    expect(me.json()).toMatchObject({ username: user.username });
    clock.advance(5);
    expect((await poll(tv, device_code)).json().error).toBe('invalid_grant');
    expect(await findConsentScope(t.db, user.id, tv.id)).toBe('read write');
  });

  it('after Deny: access_denied', async () => {
    const { device_code, user_code } = await begin();
    await decide(user_code, 'deny');
    const r = await poll(tv, device_code);
    expect([r.statusCode, r.json().error]).toEqual([400, 'access_denied']);
  });

  it('after the lifetime: expired_token, and the code can no longer be entered', async () => {
    const { device_code, user_code } = await begin();
    clock.advance(600);
    expect((await poll(tv, device_code)).json().error).toBe('expired_token');
    const r = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: alice.csrf('/device'), user_code }), headers: { ...form({}).headers, cookie: alice.cookie } });
    expect(r.statusCode).toBe(400);
    expect(r.body).toContain('id="device-error"');
  });

  it('refuses another client\'s device code with invalid_grant, without disturbing it', async () => {
    const { device_code, user_code } = await begin(tv);
    const stolen = await poll(cli, device_code);
    expect([stolen.statusCode, stolen.json().error]).toEqual([400, 'invalid_grant']);
    expect((await poll(tv, device_code)).json().error).toBe('authorization_pending');
    await decide(user_code, 'allow');
    expect((await poll(cli, device_code)).json().error).toBe('invalid_grant');
    clock.advance(5);
    expect((await poll(tv, device_code)).statusCode).toBe(200);
  });

  it('refuses unknown and malformed device codes, and a client without the grant', async () => {
    expect((await poll(tv, 'latch_dc_nope')).json().error).toBe('invalid_grant');
    expect((await poll(tv, 'x'.repeat(5000))).json().error).toBe('invalid_grant');
    const r = await post(t.app, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE }, asAuth(tv));
    expect([r.statusCode, r.json().error]).toEqual([400, 'invalid_request']);
    const web = await makeClient(t);
    expect((await poll(web, 'latch_dc_nope')).json().error).toBe('unauthorized_client');
  });

  it('gives tokens to exactly one of 8 concurrent polls after approval (a public client: no refresh token)', async () => {
    const { device_code, user_code } = await begin(cli);
    await decide(user_code, 'allow');
    const answers = await Promise.all(Array.from({ length: 8 }, () => poll(cli, device_code)));
    const ok = answers.filter((a) => a.statusCode === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.json().refresh_token).toBeUndefined();
    expect(answers.filter((a) => a.statusCode === 400).map((a) => a.json().error)).toEqual(Array(7).fill('invalid_grant'));
    const tokens = await t.db.selectFrom('access_tokens').select('token_digest').where('client_id', '=', cli.id).execute();
    expect(tokens.map((x) => x.token_digest)).toContain(digest(ok[0]!.json().access_token));
  });
});

describe('the /device page', () => {
  it('prefills ?user_code= but shows the form (no consent) until the user submits it', async () => {
    const { user_code } = await begin();
    const r = await t.app.inject({ url: `/device?user_code=${user_code}`, headers: { cookie: alice.cookie } });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('id="device-form"');
    expect(r.body).not.toContain('id="consent-form"');
    expect(field(r.body, 'user_code') ?? r.body.match(/name="user_code"[^>]*value="([^"]*)"/)?.[1]).toBe(user_code);
  });

  it('accepts the code in any case, with or without the dash or spaces', async () => {
    const { device_code, user_code } = await begin();
    await decide(` ${user_code.replace('-', '').toLowerCase().slice(0, 4)} ${user_code.slice(5).toLowerCase()} `, 'allow');
    expect((await poll(tv, device_code)).statusCode).toBe(200);
  });

  it('shows the consent page with the app, the scopes and the user code to compare', async () => {
    const { user_code } = await begin(tv, { scope: 'write' });
    const r = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: alice.csrf('/device'), user_code }), headers: { ...form({}).headers, cookie: alice.cookie } });
    expect(r.body).toContain('Living Room TV');
    expect(r.body).toContain(`<code id="device-user-code">${user_code}</code>`);
    expect(r.body).toContain('data-scope="write"');
  });

  it('signed out: a confirmed code goes through /login and comes back to the consent page, not to the form', async () => {
    const { device_code, user_code } = await begin();
    const page = await t.app.inject({ url: `/device?user_code=${user_code}` });
    let cookie = cookiesFrom(page.headers['set-cookie']);
    const csrf = field(page.body, '_csrf')!;
    const confirm = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: csrf, user_code }), headers: { ...form({}).headers, cookie } });
    expect(confirm.statusCode).toBe(303);
    const login = new URL(confirm.headers.location as string, 'http://x');
    expect(login.pathname).toBe('/login');
    // The code is not in the URL (request logs keep URLs): a signed cookie carries it through the sign-in.
    expect(login.searchParams.get('return_to')).toBe('/device');
    cookie = cookiesFrom(confirm.headers['set-cookie'], cookie);

    const loginPage = await t.app.inject({ url: confirm.headers.location as string, headers: { cookie } });
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/login',
      ...form({ _csrf: field(loginPage.body, '_csrf')!, username: user.username, password: user.password, return_to: '/device' }),
      headers: { ...form({}).headers, cookie },
    });
    expect(signIn.statusCode).toBe(303);
    cookie = cookiesFrom(signIn.headers['set-cookie'], cookie);
    const back = await t.app.inject({ url: signIn.headers.location as string, headers: { cookie } });
    expect(back.body).toContain('id="consent-form"');
    cookie = cookiesFrom(back.headers['set-cookie'], cookie);
    const done = await t.app.inject({ method: 'POST', url: '/device', ...form({ _csrf: field(back.body, '_csrf')!, user_code, decision: 'allow' }), headers: { ...form({}).headers, cookie } });
    expect(done.body).toContain('id="device-done"');
    expect((await poll(tv, device_code)).statusCode).toBe(200);
  });

  it('a link alone cannot skip the confirmation: without the confirming POST (or with a forged cookie) the signed-in user sees the form', async () => {
    const { user_code } = await begin();
    for (const cookie of [alice.cookie, `${alice.cookie}; latch_device=${user_code.replace('-', '')}`]) {
      const r = await t.app.inject({ url: `/device?user_code=${user_code}`, headers: { cookie } });
      expect(r.body).toContain('id="device-form"');
      expect(r.body).not.toContain('id="consent-form"');
    }
  });

  it('refuses a POST without the CSRF token', async () => {
    const { user_code } = await begin();
    const r = await t.app.inject({ method: 'POST', url: '/device', ...form({ user_code, decision: 'allow' }), headers: { ...form({}).headers, cookie: alice.cookie } });
    expect(r.statusCode).toBe(403);
  });

  it('throttles wrong codes per address: 10 are heard, then 429 with Retry-After, and the right code waits too', async () => {
    const { user_code } = await begin();
    const from = (ip: string, code: string, who: SignedIn) =>
      t.app.inject({ method: 'POST', url: '/device', remoteAddress: ip, ...form({ _csrf: who.csrf('/device'), user_code: code }), headers: { ...form({}).headers, cookie: who.cookie } });
    // Fresh browsers each time: only the address counter can stop them.
    for (let i = 0; i < 10; i++) {
      const r = await from('198.51.100.7', 'BBBB-BBBB', await signedInAs(t, user.id));
      expect(r.statusCode).toBe(400);
    }
    const blocked = await from('198.51.100.7', 'BBBB-BBBB', await signedInAs(t, user.id));
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('198.51.100.7', user_code, alice)).statusCode).toBe(429);
    // Another address is not held up.
    expect((await from('198.51.100.8', user_code, alice)).statusCode).toBe(200);
  });

  it('throttles wrong codes per browser across addresses: 5 are heard, then 429', async () => {
    const browser = await signedInAs(t, user.id);
    const from = (ip: string) =>
      t.app.inject({ method: 'POST', url: '/device', remoteAddress: ip, ...form({ _csrf: browser.csrf('/device'), user_code: 'cccc-cccc' }), headers: { ...form({}).headers, cookie: browser.cookie } });
    for (let i = 0; i < 5; i++) expect((await from(`203.0.113.${i + 1}`)).statusCode).toBe(400);
    expect((await from('203.0.113.99')).statusCode).toBe(429);
  });

  it('a right code takes its attempt back: a user entering codes correctly is never throttled', async () => {
    const browser = await signedInAs(t, user.id);
    for (let i = 0; i < 12; i++) {
      const { user_code } = await begin();
      const r = await t.app.inject({ method: 'POST', url: '/device', remoteAddress: '192.0.2.200', ...form({ _csrf: browser.csrf('/device'), user_code }), headers: { ...form({}).headers, cookie: browser.cookie } });
      expect(r.statusCode).toBe(200);
    }
  });
});

describe('housekeeping and logs', () => {
  it('prunes expired device codes in batches, keeping live ones', async () => {
    await t.db.deleteFrom('device_codes').execute();
    for (let i = 0; i < 5; i++) await begin();
    clock.advance(601);
    const live = await begin();
    const now = t.clock.now();
    const counts = await pruneExpired(t.db, now, now, 2);
    expect(counts.device_codes).toBe(5);
    const left = await t.db.selectFrom('device_codes').select('device_code_digest').execute();
    expect(left.map((r) => r.device_code_digest)).toEqual([digest(live.device_code)]);
  });

  it('never writes a device code or user code to the log, even at trace level', async () => {
    let lines = '';
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines += chunk.toString();
        done();
      },
    });
    const app: FastifyInstance = await buildApp(
      { config: t.config, db: t.db, clock: t.clock, cookieSecret: 'test-cookie-secret-0123456789abcdef' },
      { logger: { ...(loggerOptions('trace') as object), stream } },
    );
    try {
      const r = await post(app, '/oauth/device_authorization', {}, asAuth(tv));
      const { device_code, user_code } = r.json();
      await app.inject({ url: `/device?user_code=${user_code}`, headers: { cookie: alice.cookie } });
      await app.inject({ url: `/device?user_code=${user_code.replace('-', '')}` });
      await app.inject({ method: 'POST', url: '/device', ...form({ _csrf: alice.csrf('/device'), user_code }), headers: { ...form({}).headers, cookie: alice.cookie } });
      await post(app, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, device_code }, asAuth(tv));
      await post(app, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, device_code }, asAuth(tv));
      expect(lines).toContain('/device');
      expect(lines).not.toContain(device_code);
      expect(lines).not.toContain(device_code.slice(9));
      expect(lines).not.toContain(user_code);
      expect(lines).not.toContain(user_code.replace('-', ''));
    } finally {
      await app.close();
    }
  });
});

