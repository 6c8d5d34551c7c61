import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { byId, field } from '../helpers/html.js';
import { signedInAs } from '../helpers/session.js';
import { digest } from '../../src/crypto/secrets.js';
import { RESET_REQUEST_POLICY, sendResetLink } from '../../src/accounts/password-reset.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { findUserById } from '../../src/store/users.js';
import { verifyPassword } from '../../src/crypto/passwords.js';
import { eventsOf, lastEvent } from '../audit/helpers.js';
import { Browser, mailsTo, tokenIn } from './helpers.js';

let t: TestContext;
let plain: TestContext;
beforeAll(async () => {
  // The app never sends mail itself (the sender runs beside it), so nothing listens at this address.
  t = await createTestContext({ LATCH_SMTP_URL: 'smtp://127.0.0.1:9', LATCH_SITE_NAME: 'Acme', LATCH_ISSUER: 'https://auth.acme.test' });
  plain = await createTestContext();
});
afterAll(async () => {
  await t?.close();
  await plain?.close();
});

const NEW_PASSWORD = 'a brand new passphrase';
let seq = 0;
/** Each test its own client address, so the per-address counter is its own too. */
const browser = (ctx = t) => new Browser(ctx.app, `198.51.100.${++seq}`);
const userWithEmail = async () => {
  const email = `person${++seq}@example.com`;
  return { ...(await makeUser(t, { email })), email };
};

/** Asks for a reset for `email` and returns the link's token from the queued mail. */
async function requestLink(email: string, b = browser()) {
  const r = await b.submit('/forgot-password', '/forgot-password', { email });
  expect(r.statusCode).toBe(200);
  const mails = await mailsTo(t.db, email);
  return tokenIn(mails[mails.length - 1]!.text_body, '/reset-password');
}

describe('the forgot-password link is offered only with e-mail', () => {
  it('without LATCH_SMTP_URL: no link on the login page, /forgot-password is a 404 page saying why', async () => {
    const login = await plain.app.inject({ method: 'GET', url: '/login' });
    expect(login.body).not.toContain('/forgot-password');
    const r = await plain.app.inject({ method: 'GET', url: '/forgot-password' });
    expect(r.statusCode).toBe(404);
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.body).toContain('ask an administrator for a reset link');
    const posted = await new Browser(plain.app).post('/forgot-password', { email: 'a@example.com' });
    expect(posted.statusCode).toBe(404);
  });

  it('with it: the login page links to /forgot-password, which shows forgot-form with input email', async () => {
    const login = await t.app.inject({ method: 'GET', url: '/login' });
    expect(login.body).toContain('<a href="/forgot-password" id="forgot-link">');
    const r = await t.app.inject({ method: 'GET', url: '/forgot-password' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('<form id="forgot-form"');
    expect(r.body).toMatch(/<input id="email" name="email" type="email"/);
  });

  it('refuses a post without the CSRF token', async () => {
    const b = browser();
    await b.get('/forgot-password');
    const r = await b.post('/forgot-password', { email: 'x@example.com' });
    expect(r.statusCode).toBe(403);
    expect(await mailsTo(t.db, 'x@example.com')).toHaveLength(0);
  });
});

describe('no enumeration', () => {
  it('answers an address with an account and one without with the same status and the same page; only the account gets mail', async () => {
    const user = await userWithEmail();
    const b = browser();
    const known = await b.submit('/forgot-password', '/forgot-password', { email: user.email.toUpperCase() });
    const unknown = await b.submit('/forgot-password', '/forgot-password', { email: `nobody${seq}@example.com` });
    expect(known.statusCode).toBe(200);
    expect(unknown.statusCode).toBe(200);
    expect(unknown.body).toBe(known.body);
    expect(byId(known.body, 'forgot-notice')).toContain('If an account has that e-mail address');
    expect(unknown.headers['set-cookie']).toEqual(known.headers['set-cookie']);

    const mails = await mailsTo(t.db, user.email);
    expect(mails).toHaveLength(1);
    // Sent to the address on the account, whatever case was typed.
    expect(mails[0]!.recipient).toBe(user.email);
    expect(mails[0]!.subject).toBe('Reset your Acme password');
    expect(await mailsTo(t.db, `nobody${seq}@example.com`)).toHaveLength(0);

    const events = await eventsOf(t, 'password.reset_request');
    const [forUser, forNobody] = events.slice(-2);
    expect(forUser).toMatchObject({ outcome: 'success', target_user_id: user.id, address: b.ip });
    expect(forNobody).toMatchObject({ outcome: 'failure', target_user_id: null, target: `nobody${seq}@example.com` });
    expect(forNobody!.details).toMatchObject({ reason: 'unknown_email' });
  });

  it('does the same statements either way: one request costs about what the other does', async () => {
    const user = await userWithEmail();
    const time = async (email: string) => {
      const b = browser();
      const page = await b.get('/forgot-password');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const started = performance.now();
      await b.post('/forgot-password', { _csrf: csrf, email });
      return performance.now() - started;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push(await time(user.email));
      unknown.push(await time(`ghost${seq}-${i}@example.com`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // No password hashing or mail server on either path: the two differ by row writes inside one statement.
    expect(Math.abs(median(known) - median(unknown))).toBeLessThan(Math.max(25, 0.5 * Math.max(median(known), median(unknown))));
  });
});

describe('the link', () => {
  it('holds 256 random bits, is kept only as a digest, and shows reset-form with input password', async () => {
    const user = await userWithEmail();
    const token = await requestLink(user.email);
    expect(token).toMatch(/^latch_ln_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice('latch_ln_'.length), 'base64url')).toHaveLength(32);
    const rows = await t.db.selectFrom('account_links').selectAll().where('user_id', '=', user.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_digest).toBe(digest(token));
    expect(JSON.stringify(rows)).not.toContain(token);
    const mail = (await mailsTo(t.db, user.email))[0]!;
    expect(mail.text_body).toContain(`https://auth.acme.test/reset-password?token=${token}`);
    expect(mail.html_body).toContain(`https://auth.acme.test/reset-password?token=${token}`);

    const page = await browser().get(`/reset-password?token=${token}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form id="reset-form"');
    expect(page.body).toMatch(/<input id="password" name="password" type="password"/);
    expect(byId(page.body, 'reset-username')).toBe(user.username);
  });

  it('sets a new password by the sign-up rule, ends every session and refresh-token family, and works once', async () => {
    const user = await userWithEmail();
    const other = await signedInAs(t, user.id);
    const client = await makeClient(t);
    const tokens = (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope: 'openid' }, asAuth(client))).json();
    expect(tokens.refresh_token).toBeDefined();
    const token = await requestLink(user.email);
    const b = browser();
    const csrf = field((await b.get(`/reset-password?token=${token}`)).body, '_csrf')!;

    const weak = await b.submit(`/reset-password?token=${token}`, '/reset-password', { token, password: `${user.username}-12345` });
    expect(weak.statusCode).toBe(400);
    expect(byId(weak.body, 'reset-error')).toBe('The new password must not contain the username.');
    const short = await b.submit(`/reset-password?token=${token}`, '/reset-password', { token, password: 'short' });
    expect(byId(short.body, 'reset-error')).toBe('The new password must be at least 10 characters.');

    const done = await b.submit(`/reset-password?token=${token}`, '/reset-password', { token, password: NEW_PASSWORD });
    expect(done.statusCode).toBe(200);
    expect(byId(done.body, 'reset-done')).toContain('Your password is changed');
    const row = await findUserById(t.db, user.id);
    expect(await verifyPassword(row!.password_hash, NEW_PASSWORD)).toBe(true);

    // Every session ended: the one signed in elsewhere is signed out.
    expect(await t.db.selectFrom('sessions').select('sid').where('user_id', '=', user.id).execute()).toEqual([]);
    const security = await t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: other.cookie } });
    expect(security.statusCode).toBe(303);
    // Every refresh-token family ended.
    const refreshed = await clientPost(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, asAuth(client));
    expect(refreshed.statusCode).toBe(400);
    expect(refreshed.json().error).toBe('invalid_grant');
    const introspected = await clientPost(t.app, '/oauth/introspect', { token: tokens.access_token }, asAuth(client));
    expect(introspected.json().active).toBe(false);

    // Sign-in with the new password works, with the old does not.
    const login = new Browser(t.app, `203.0.113.${++seq}`);
    const bad = await login.submit('/login', '/login', { username: user.username, password: user.password, return_to: '/' });
    expect(bad.statusCode).toBe(401);
    const good = await login.submit('/login', '/login', { username: user.username, password: NEW_PASSWORD, return_to: '/' });
    expect(good.statusCode).toBe(303);

    // Single use: the same link again is a clear page, not a second reset.
    const again = await b.get(`/reset-password?token=${token}`);
    expect(again.statusCode).toBe(400);
    expect(byId(again.body, 'reset-problem')).toContain('already been used');
    const reuse = await b.post('/reset-password', { _csrf: csrf, token, password: 'yet another passphrase' });
    expect(reuse.statusCode).toBe(400);
    expect(byId(reuse.body, 'reset-problem')).toContain('already been used');
    expect(await verifyPassword((await findUserById(t.db, user.id))!.password_hash, NEW_PASSWORD)).toBe(true);

    const event = await lastEvent(t, 'password.reset');
    expect(event).toMatchObject({ outcome: 'success', target_user_id: user.id, actor_kind: 'anonymous' });
    expect(event!.details).toMatchObject({ sessions_ended: 1 });
  });

  it('of two concurrent uses, exactly one sets its password', async () => {
    const user = await userWithEmail();
    const token = await requestLink(user.email);
    const a = browser();
    const b = browser();
    const [pa, pb] = await Promise.all([a.get(`/reset-password?token=${token}`), b.get(`/reset-password?token=${token}`)]);
    const csrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
    const results = await Promise.all([
      a.post('/reset-password', { _csrf: csrf(pa.body), token, password: 'first concurrent pass' }),
      b.post('/reset-password', { _csrf: csrf(pb.body), token, password: 'second concurrent pass' }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400]);
    const winner = results[0]!.statusCode === 200 ? 'first concurrent pass' : 'second concurrent pass';
    expect(await verifyPassword((await findUserById(t.db, user.id))!.password_hash, winner)).toBe(true);
  });

  it('a newer reset ends the older links of the same user', async () => {
    const user = await userWithEmail();
    const first = await requestLink(user.email);
    const second = await requestLink(user.email);
    const b = browser();
    expect((await b.submit(`/reset-password?token=${second}`, '/reset-password', { token: second, password: NEW_PASSWORD })).statusCode).toBe(200);
    const old = await b.get(`/reset-password?token=${first}`);
    expect(old.statusCode).toBe(400);
    expect(byId(old.body, 'reset-problem')).toContain('already been used');
  });
});

describe('links that do not work are clear pages, never 5xx', () => {
  const clock = withClock({ get clock() {
    return t.clock;
  } });

  it('expires after 30 minutes', async () => {
    const user = await userWithEmail();
    const token = await requestLink(user.email);
    const b = browser();
    const page = await b.get(`/reset-password?token=${token}`);
    clock.advance(30 * 60 - 1);
    expect((await b.get(`/reset-password?token=${token}`)).statusCode).toBe(200);
    clock.advance(1);
    const expired = await b.get(`/reset-password?token=${token}`);
    expect(expired.statusCode).toBe(400);
    expect(byId(expired.body, 'reset-problem')).toBe('This link has expired. Ask for a new one.');
    expect(expired.body).toContain('href="/forgot-password"');
    // The form read before it expired does not work after.
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const posted = await b.post('/reset-password', { _csrf: csrf, token, password: NEW_PASSWORD });
    expect(posted.statusCode).toBe(400);
    expect(byId(posted.body, 'reset-problem')).toContain('expired');
    expect(await verifyPassword((await findUserById(t.db, user.id))!.password_hash, user.password)).toBe(true);
  });

  it('tampered, truncated, missing, repeated or unknown tokens', async () => {
    const user = await userWithEmail();
    const token = await requestLink(user.email);
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    const b = browser();
    for (const url of [
      `/reset-password?token=${flipped}`,
      `/reset-password?token=${token.slice(0, -2)}`,
      '/reset-password',
      '/reset-password?token=',
      `/reset-password?token=${token}&token=${token}`,
      `/reset-password?token=${'%00'.repeat(50)}`,
      `/reset-password?token=latch_ln_${'x'.repeat(43)}`,
    ]) {
      const r = await b.get(url);
      expect(r.statusCode, url).toBeLessThan(500);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
      if (r.statusCode === 400 && r.body.includes('reset-problem')) expect(byId(r.body, 'reset-problem')).toContain('not valid');
    }
    const csrf = field((await b.get(`/reset-password?token=${token}`)).body, '_csrf')!;
    const posted = await b.post('/reset-password', { _csrf: csrf, token: flipped, password: NEW_PASSWORD });
    expect(posted.statusCode).toBe(400);
    expect(byId(posted.body, 'reset-problem')).toContain('not valid');
    // The real link still works: nothing above used it.
    expect((await b.get(`/reset-password?token=${token}`)).statusCode).toBe(200);
  });

  it('a link for a user since deleted', async () => {
    const user = await userWithEmail();
    const token = await requestLink(user.email);
    await t.db.deleteFrom('users').where('id', '=', user.id).execute();
    const r = await browser().get(`/reset-password?token=${token}`);
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'reset-problem')).toContain('not valid');
  });
});

describe('throttling', () => {
  it('per e-mail address: past the allowance the page is the same and no more mail is queued (account or not)', async () => {
    const user = await userWithEmail();
    const pages: string[] = [];
    for (let i = 0; i < RESET_REQUEST_POLICY.emailFree + 2; i++) {
      // Each from another client address: only the per-e-mail counter applies.
      const r = await browser().submit('/forgot-password', '/forgot-password', { email: user.email });
      expect(r.statusCode).toBe(200);
      pages.push(byId(r.body, 'forgot-notice')!);
    }
    expect(new Set(pages).size).toBe(1);
    expect(await mailsTo(t.db, user.email)).toHaveLength(RESET_REQUEST_POLICY.emailFree);
    expect((await lastEvent(t, 'password.reset_request'))!.details).toMatchObject({ reason: 'throttled' });
  });

  it('per client address: past the allowance a 429 page with Retry-After, for known and unknown addresses alike', async () => {
    const b = browser();
    for (let i = 0; i < RESET_REQUEST_POLICY.addressFree; i++) {
      const r = await b.submit('/forgot-password', '/forgot-password', { email: `many${seq}-${i}@example.com` });
      expect(r.statusCode).toBe(200);
    }
    const user = await userWithEmail();
    const r = await b.submit('/forgot-password', '/forgot-password', { email: user.email });
    expect(r.statusCode).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(byId(r.body, 'forgot-error')).toMatch(/Too many reset requests/);
    expect(await mailsTo(t.db, user.email)).toHaveLength(0);
  });
});

describe('an administrator or the operator sends a reset link', () => {
  it('mails it when e-mail is on; returns a one-time link without e-mail', async () => {
    const user = await userWithEmail();
    const mailed = await sendResetLink({ db: t.db, clock: t.clock, config: t.config, log: t.app.log }, user.id, OPERATOR);
    expect(mailed).toMatchObject({ kind: 'mailed', to: user.email });
    const token = tokenIn((await mailsTo(t.db, user.email))[0]!.text_body, '/reset-password');
    expect((await browser().get(`/reset-password?token=${token}`)).statusCode).toBe(200);

    const offline = await makeUser(plain, { email: 'offline@example.com' });
    const printed = await sendResetLink({ db: plain.db, clock: plain.clock, config: plain.config, log: plain.app.log }, offline.id, OPERATOR);
    expect(printed.kind).toBe('link');
    if (printed.kind !== 'link') return;
    expect(printed.why).toBe('no_smtp');
    expect(await plain.db.selectFrom('mail_outbox').selectAll().execute()).toEqual([]);
    const b = new Browser(plain.app);
    const path = new URL(printed.url).pathname + new URL(printed.url).search;
    const done = await b.submit(path, '/reset-password', { token: new URL(printed.url).searchParams.get('token')!, password: NEW_PASSWORD });
    expect(done.statusCode).toBe(200);
    // Without e-mail the page does not offer /forgot-password for a new link.
    expect((await b.get(path)).body).not.toContain('href="/forgot-password"');
  });

  it('refuses a user who is not an administrator', async () => {
    const user = await userWithEmail();
    await expect(
      sendResetLink({ db: t.db, clock: t.clock, config: t.config, log: t.app.log }, user.id, { actor: { kind: 'user', id: user.id, name: user.username, isAdmin: false }, address: null, userAgent: null }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
