import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { byId, field } from '../helpers/html.js';
import { cli } from '../helpers/cli.js';
import { signedInAs } from '../helpers/session.js';
import { addSeconds } from '../../src/clock.js';
import { prune } from '../../src/housekeeping.js';
import { lastEvent } from '../audit/helpers.js';
import { Browser, mailsTo, tokenIn } from './helpers.js';

let t: TestContext;
let plain: TestContext;
beforeAll(async () => {
  t = await createTestContext({ LATCH_SMTP_URL: 'smtp://127.0.0.1:9', LATCH_SIGNUP: 'open', LATCH_ISSUER: 'https://auth.acme.test' });
  plain = await createTestContext({ LATCH_SIGNUP: 'open' });
});
afterAll(async () => {
  await t?.close();
  await plain?.close();
});
const clock = withClock({
  get clock() {
    return t.clock;
  },
});

let seq = 0;
const browser = (ctx = t) => new Browser(ctx.app, `198.51.100.${++seq}`);
const PASSWORD = 'correct horse battery';

async function signUp(b: Browser, email: string) {
  const username = `new${++seq}user`;
  const r = await b.submit('/signup', '/signup', { username, email, password: PASSWORD, return_to: '/' });
  expect(r.statusCode).toBe(303);
  return username;
}

describe('e-mail verification', () => {
  it('sign-up with an e-mail mails a link; following it sets email_verified, which userinfo and ID tokens state', async () => {
    const b = browser();
    const email = `verify${seq}@example.com`;
    const username = await signUp(b, email);
    const user = (await t.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow());
    expect(user.email_verified).toBe(false);
    const mails = await mailsTo(t.db, email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.kind).toBe('email_verification');
    const token = tokenIn(mails[0]!.text_body, '/verify-email');
    expect(JSON.stringify(await t.db.selectFrom('account_links').selectAll().where('user_id', '=', user.id).execute())).not.toContain(token);

    const client = await makeClient(t);
    const claimsNow = async () => {
      const tokens = (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username, password: PASSWORD, scope: 'openid email' }, asAuth(client))).json();
      const info = await t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } });
      const idToken = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
      return { userinfo: info.json().email_verified, idToken: idToken.email_verified };
    };
    expect(await claimsNow()).toEqual({ userinfo: false, idToken: false });

    const r = await browser().get(`/verify-email?token=${token}`);
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'verify-done')).toContain(email);
    expect(await claimsNow()).toEqual({ userinfo: true, idToken: true });
    expect(await lastEvent(t, 'email.verify')).toMatchObject({ outcome: 'success', target_user_id: user.id });

    const again = await browser().get(`/verify-email?token=${token}`);
    expect(again.statusCode).toBe(400);
    expect(byId(again.body, 'verify-problem')).toContain('already been used');
  });

  it('without e-mail configured sign-up sends nothing and the address stays unverified', async () => {
    const b = new Browser(plain.app);
    const username = `nomail${++seq}`;
    const r = await b.submit('/signup', '/signup', { username, email: 'nomail@example.com', password: PASSWORD, return_to: '/' });
    expect(r.statusCode).toBe(303);
    expect(await plain.db.selectFrom('mail_outbox').selectAll().execute()).toEqual([]);
    expect(await plain.db.selectFrom('account_links').selectAll().execute()).toEqual([]);
  });

  it('expired after 24 hours, tampered or unknown: a clear page, nothing verified', async () => {
    const b = browser();
    const email = `late${seq}@example.com`;
    const username = await signUp(b, email);
    const token = tokenIn((await mailsTo(t.db, email))[0]!.text_body, '/verify-email');
    for (const url of ['/verify-email', '/verify-email?token=nonsense', `/verify-email?token=${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`]) {
      const r = await browser().get(url);
      expect(r.statusCode, url).toBe(400);
      expect(byId(r.body, 'verify-problem'), url).toContain('not valid');
    }
    clock.advance(24 * 3600);
    const r = await browser().get(`/verify-email?token=${token}`);
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'verify-problem')).toContain('expired');
    expect((await t.db.selectFrom('users').select('email_verified').where('username', '=', username).executeTakeFirstOrThrow()).email_verified).toBe(false);
  });

  it('changing the address on /account/security needs the password, unverifies, and mails the new address; old links stop working', async () => {
    const b = browser();
    const email = `before${seq}@example.com`;
    const username = await signUp(b, email);
    const oldToken = tokenIn((await mailsTo(t.db, email))[0]!.text_body, '/verify-email');
    const page = await b.get('/account/security');
    expect(page.body).toContain('<form id="email-form"');
    expect(byId(page.body, 'email-status')).toContain('not confirmed yet');

    const wrong = await b.submit('/account/security', '/account/security/email', { email: `after${seq}@example.com`, password: 'not my password' });
    expect(wrong.statusCode).toBe(400);
    expect(byId(wrong.body, 'error-email_password')).toBe('That is not your current password.');
    const bad = await b.submit('/account/security', '/account/security/email', { email: 'not-an-address', password: PASSWORD });
    expect(byId(bad.body, 'error-email')).toBe('That is not an e-mail address.');

    const next = `after${seq}@example.com`;
    const changed = await b.submit('/account/security', '/account/security/email', { email: next, password: PASSWORD });
    expect(changed.statusCode).toBe(200);
    expect(byId(changed.body, 'security-notice')).toContain('Open the link we sent');
    expect(await lastEvent(t, 'email.change')).toMatchObject({ outcome: 'success' });
    const old = await browser().get(`/verify-email?token=${oldToken}`);
    expect(old.statusCode).toBe(400);
    const newToken = tokenIn((await mailsTo(t.db, next))[0]!.text_body, '/verify-email');
    expect((await browser().get(`/verify-email?token=${newToken}`)).statusCode).toBe(200);
    const row = await t.db.selectFrom('users').select(['email', 'email_verified']).where('username', '=', username).executeTakeFirstOrThrow();
    expect(row).toEqual({ email: next, email_verified: true });
  });
});

describe('sessions on /account/security', () => {
  it('lists each session with when it was made and last seen, its address and browser', async () => {
    const user = await makeUser(t);
    const phone = new Browser(t.app, '192.0.2.44', 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36');
    const laptop = new Browser(t.app, '192.0.2.45');
    for (const b of [phone, laptop]) expect((await b.submit('/login', '/login', { username: user.username, password: user.password, return_to: '/' })).statusCode).toBe(303);
    const page = await laptop.get('/account/security');
    const list = /<ul id="session-list"[\s\S]*?<\/ul>/.exec(page.body)![0];
    const items = list.split('<li class="session"').slice(1);
    expect(items).toHaveLength(2);
    // This browser first, marked, with no "sign out this session" of its own (that is the sign-out button).
    expect(items[0]).toContain('id="session-current"');
    expect(items[0]).toContain('Firefox on Linux');
    expect(items[0]).toContain('From 192.0.2.45');
    expect(items[0]).not.toContain('session-end-form');
    expect(items[1]).toContain('Chrome on Android');
    expect(items[1]).toContain('From 192.0.2.44');
    expect(items[1]).toContain(`datetime="${clock.now().toISOString()}"`);
    expect(page.body).toContain('<form id="sessions-end-others-form"');
  });

  it('"last seen" moves at most once a minute', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const lastSeen = async () => (await t.db.selectFrom('sessions').select('last_seen_at').where('user_id', '=', user.id).executeTakeFirstOrThrow()).last_seen_at;
    const start = clock.now();
    const visit = () => t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    clock.advance(59);
    await visit();
    expect(await lastSeen()).toEqual(start);
    clock.advance(2);
    await visit();
    expect(await lastSeen()).toEqual(addSeconds(start, 61));
    clock.advance(30);
    await visit();
    expect(await lastSeen()).toEqual(addSeconds(start, 61));
  });

  it('"sign out this session" ends that one only, and only the user\'s own', async () => {
    const user = await makeUser(t);
    const stranger = await makeUser(t);
    const strangers = await signedInAs(t, stranger.id);
    const [a, b, c] = [browser(), browser(), browser()];
    for (const x of [a, b, c]) await x.submit('/login', '/login', { username: user.username, password: user.password, return_to: '/' });
    const sidOf = async (ip: string) => (await t.db.selectFrom('sessions').select('sid').where('user_id', '=', user.id).where('address', '=', ip).executeTakeFirstOrThrow()).sid;
    const sidB = await sidOf(b.ip);

    const page = await a.get('/account/security');
    const csrf = /<input type="hidden" name="_csrf" value="([^"]+)">\s*<input type="hidden" name="sid"/.exec(page.body)![1]!;
    // Without the CSRF token: refused.
    expect((await a.post('/account/security/sessions/end', { sid: sidB })).statusCode).toBe(403);
    const ended = await a.post('/account/security/sessions/end', { _csrf: csrf, sid: sidB });
    expect(ended.statusCode).toBe(200);
    expect(byId(ended.body, 'security-notice')).toBe('That session is signed out.');
    expect((await b.get('/account/security')).statusCode).toBe(303);
    expect((await c.get('/account/security')).statusCode).toBe(200);
    expect(await lastEvent(t, 'signout')).toMatchObject({ target_user_id: user.id });

    // Another user's session id does nothing.
    const strangerSid = (await t.db.selectFrom('sessions').select('sid').where('user_id', '=', stranger.id).executeTakeFirstOrThrow()).sid;
    const none = await a.post('/account/security/sessions/end', { _csrf: csrf, sid: strangerSid });
    expect(byId(none.body, 'security-notice')).toBe('That session had already ended.');
    expect((await t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: strangers.cookie } })).statusCode).toBe(200);
  });

  it('"sign out everywhere else" ends every other session and keeps this one', async () => {
    const user = await makeUser(t);
    const [a, b, c] = [browser(), browser(), browser()];
    for (const x of [a, b, c]) await x.submit('/login', '/login', { username: user.username, password: user.password, return_to: '/' });
    const r = await a.submit('/account/security', '/account/security/sessions/end-others', {});
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'security-notice')).toBe('2 other sessions are signed out.');
    expect((await a.get('/account/security')).statusCode).toBe(200);
    expect((await b.get('/account/security')).statusCode).toBe(303);
    expect((await c.get('/account/security')).statusCode).toBe(303);
    expect(await lastEvent(t, 'signout')).toMatchObject({ target_user_id: user.id, actor_id: user.id });
  });
});

describe('housekeeping', () => {
  it('prunes expired half-done sign-ins and old used links', async () => {
    const user = await makeUser(t);
    const now = clock.now();
    await t.db.insertInto('pending_signins').values([
      { id_digest: `gone${seq}`, user_id: user.id, return_to: '/', created_at: addSeconds(now, -600), expires_at: addSeconds(now, -300) },
      { id_digest: `live${seq}`, user_id: user.id, return_to: '/', created_at: now, expires_at: addSeconds(now, 300) },
    ]).execute();
    await t.db.insertInto('account_links').values([
      { token_digest: `old${seq}`, purpose: 'password_reset', user_id: user.id, email: null, created_at: addSeconds(now, -3 * 86400), expires_at: addSeconds(now, -2 * 86400), used_at: null },
      { token_digest: `new${seq}`, purpose: 'password_reset', user_id: user.id, email: null, created_at: now, expires_at: addSeconds(now, 1800), used_at: null },
    ]).execute();
    const counts = await prune(t.db, t.clock);
    expect(counts.pending_signins).toBeGreaterThanOrEqual(1);
    expect(counts.account_links).toBeGreaterThanOrEqual(1);
    expect((await t.db.selectFrom('pending_signins').select('id_digest').where('user_id', '=', user.id).execute()).map((r) => r.id_digest)).toEqual([`live${seq}`]);
    expect((await t.db.selectFrom('account_links').select('token_digest').where('user_id', '=', user.id).execute()).map((r) => r.token_digest)).toEqual([`new${seq}`]);
  });
});

describe('bin/latch user reset-password', () => {
  const run = (ctx: TestContext, argv: string[], env: NodeJS.ProcessEnv) => cli(argv, { clock: ctx.clock, openDb: async () => ({ ...ctx.handle, close: async () => {} }), env: { LOG_LEVEL: 'silent', ...env } });

  it('without e-mail prints a one-time link that resets the password once', async () => {
    const user = await makeUser(plain, { email: 'cli@example.com' });
    const r = await run(plain, ['user', 'reset-password', user.username, '--json'], { LATCH_ISSUER: plain.config.issuer });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^latch: database: /);
    expect(r.json).toMatchObject({ username: user.username, delivery: 'link' });
    const url = new URL(r.json.url);
    expect(url.pathname).toBe('/reset-password');
    const human = await run(plain, ['user', 'reset-password', user.username], { LATCH_ISSUER: plain.config.issuer });
    expect(human.stdout).toContain('e-mail is off (LATCH_SMTP_URL unset)');
    expect(human.stdout).toMatch(/\n\S+\/reset-password\?token=latch_ln_/);
    const b = new Browser(plain.app);
    const csrf = field((await b.get(url.pathname + url.search)).body, '_csrf')!;
    const token = url.searchParams.get('token')!;
    expect((await b.post('/reset-password', { _csrf: csrf, token, password: 'the cli reset pass' })).statusCode).toBe(200);
    expect((await b.post('/reset-password', { _csrf: csrf, token, password: 'the cli reset pass' })).statusCode).toBe(400);
  });

  it('with e-mail queues the mail to the user; unknown users are a one-line error', async () => {
    const user = await makeUser(t, { email: `cli${++seq}@example.com` });
    const env = { LATCH_SMTP_URL: 'smtp://127.0.0.1:9', LATCH_ISSUER: 'https://auth.acme.test' };
    const r = await run(t, ['user', 'reset-password', user.username], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`queued a password-reset mail to ${user.email} for ${user.username}`);
    expect(r.stdout).not.toContain('token=');
    const mails = await mailsTo(t.db, user.email!);
    expect(mails).toHaveLength(1);
    expect(tokenIn(mails[0]!.text_body, '/reset-password')).toMatch(/^latch_ln_/);
    const missing = await run(t, ['user', 'reset-password', 'no-such-user'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('latch user reset-password: no user named "no-such-user"');
    expect((await run(t, ['user', 'reset-password'], env)).code).toBe(2);
  });
});
