import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { digest } from '../../src/crypto/secrets.js';
import { THROTTLE_POLICY } from '../../src/accounts/throttle.js';
import { safeReturnTo } from '../../src/web/pages.js';
import { useTestContext, testConfig } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs } from '../helpers/session.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';

describe('login, logout and the sign-in throttle', () => {
  const t = useTestContext();
  /** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
  const clock = withClock(t);

  /** Loads the login page as a fresh browser: its cookies and the form's CSRF token. */
  async function loginPage(returnTo?: string, cookie = '') {
    const r = await t.app.inject({ method: 'GET', url: returnTo === undefined ? '/login' : `/login?return_to=${encodeURIComponent(returnTo)}`, headers: { cookie } });
    return { r, cookie: cookiesFrom(r.headers['set-cookie'], cookie), csrf: field(r.body, '_csrf')!, returnTo: field(r.body, 'return_to') };
  }

  async function submit(values: { username: string; password: string; return_to?: string }, ip = '192.0.2.1') {
    const page = await loginPage();
    const body = { _csrf: page.csrf, return_to: '/', ...values };
    return t.app.inject({ method: 'POST', url: '/login', remoteAddress: ip, ...form(body), headers: { ...form(body).headers, cookie: page.cookie } });
  }

  it('renders the login form with its hooks, a CSRF token, no-store and no framing', async () => {
    const { r } = await loginPage();
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('<form id="login-form"');
    expect(r.body).toMatch(/<input id="username" name="username"/);
    expect(r.body).toMatch(/<input id="password" name="password" type="password"/);
    expect(field(r.body, '_csrf')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(r.body).not.toMatch(/(src|href)="https?:\/\//);
  });

  it('signs in, sets an HttpOnly SameSite=Lax session cookie and returns to a same-origin return_to', async () => {
    const user = await makeUser(t);
    const r = await submit({ username: user.username, password: user.password, return_to: '/account/apps?x=1' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/account/apps?x=1');
    const setCookie = [r.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('latch_session='))!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
    const sessions = await t.db.selectFrom('sessions').select('user_id').where('user_id', '=', user.id).execute();
    expect(sessions).toHaveLength(1);
  });

  it('signing in with a different case of the username works', async () => {
    const user = await makeUser(t);
    const r = await submit({ username: user.username.toUpperCase(), password: user.password });
    expect(r.statusCode).toBe(303);
  });

  it('the session cookie carries only a random id; the database keeps its digest', async () => {
    const user = await makeUser(t);
    const r = await submit({ username: user.username, password: user.password });
    const raw = decodeURIComponent([r.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('latch_session='))!.split(';')[0]!.split('=')[1]!);
    const id = raw.slice(0, raw.lastIndexOf('.'));
    expect(id).toMatch(/^latch_ss_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.selectFrom('sessions').select('id_digest').where('id_digest', '=', digest(id)).executeTakeFirst();
    expect(row).toBeDefined();
  });

  it('rotates the session at sign-in: the old session id stops working', async () => {
    const alice = await makeUser(t);
    const bob = await makeUser(t);
    const old = await signedInAs(t, alice.id);
    const page = await loginPage(undefined, old.cookie);
    // Signed in, GET /login sends the browser on.
    expect(page.r.statusCode).toBe(302);
    const form2 = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: old.cookie } });
    expect(form2.statusCode).toBe(200);
    const body = { _csrf: old.csrf('/login'), username: bob.username, password: bob.password, return_to: '/' };
    const r = await t.app.inject({ method: 'POST', url: '/login', ...form(body), headers: { ...form(body).headers, cookie: old.cookie } });
    expect(r.statusCode).toBe(303);
    const fresh = cookiesFrom(r.headers['set-cookie'], old.cookie);
    expect(fresh).not.toBe(old.cookie);
    const withOld = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: old.cookie } });
    expect(withOld.statusCode).toBe(303);
    expect(withOld.headers.location).toMatch(/^\/login/);
    const withNew = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: fresh } });
    expect(withNew.statusCode).toBe(200);
    expect(withNew.body).toContain(bob.username);
    const aliceSessions = await t.db.selectFrom('sessions').select('id_digest').where('user_id', '=', alice.id).execute();
    expect(aliceSessions).toHaveLength(0);
  });

  it('a wrong password and an unknown user get the same message, which names neither', async () => {
    const user = await makeUser(t);
    const wrong = await submit({ username: user.username, password: 'not the password' }, '192.0.2.10');
    const unknown = await submit({ username: 'nobody-here', password: 'whatever pw' }, '192.0.2.11');
    for (const r of [wrong, unknown]) {
      expect(r.statusCode).toBe(401);
      expect(r.body).toContain('The username or password is incorrect.');
      expect(r.body).toContain('<form id="login-form"');
      expect(r.headers['set-cookie'] ?? []).not.toEqual(expect.arrayContaining([expect.stringMatching(/^latch_session=[^;]/)]));
    }
    const message = (body: string) => /<p[^>]*id="login-error">([^<]*)<\/p>/.exec(body)?.[1];
    expect(message(wrong.body)).toBe('The username or password is incorrect.');
    expect(message(unknown.body)).toBe(message(wrong.body));
  });

  it('a POST without a valid CSRF token gets 403 and signs nobody in', async () => {
    const user = await makeUser(t);
    const page = await loginPage();
    for (const csrf of [undefined, 'forged-token']) {
      const body: Record<string, string> = { username: user.username, password: user.password };
      if (csrf) body._csrf = csrf;
      const r = await t.app.inject({ method: 'POST', url: '/login', ...form(body), headers: { ...form(body).headers, cookie: page.cookie } });
      expect(r.statusCode).toBe(403);
      expect(r.body).toContain('<p id="error-code"');
    }
    const sessions = await t.db.selectFrom('sessions').select('id_digest').where('user_id', '=', user.id).execute();
    expect(sessions).toHaveLength(0);
  });

  it('a malformed or empty form is a 4xx, never a 5xx', async () => {
    const page = await loginPage();
    const twice = `_csrf=${encodeURIComponent(page.csrf)}&username=a&username=b&password=x`;
    const r = await t.app.inject({ method: 'POST', url: '/login', payload: twice, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: page.cookie } });
    expect(r.statusCode).toBe(400);
    const empty = { _csrf: page.csrf, username: '', password: '' };
    const e = await t.app.inject({ method: 'POST', url: '/login', ...form(empty), headers: { ...form(empty).headers, cookie: page.cookie } });
    expect(e.statusCode).toBe(400);
    expect(e.body).toContain('Enter your username and password.');
    const nul = { _csrf: page.csrf, username: 'ali\u0000ce', password: 'x' };
    const n = await t.app.inject({ method: 'POST', url: '/login', ...form(nul), headers: { ...form(nul).headers, cookie: page.cookie } });
    expect(n.statusCode).toBe(400);
    expect(n.body).toContain('<p id="error-code" class="error-code">invalid_request</p>');
  });

  describe('return_to', () => {
    it('keeps same-origin paths and refuses everything else', () => {
      expect(safeReturnTo('/oauth/authorize?client_id=a&state=b')).toBe('/oauth/authorize?client_id=a&state=b');
      expect(safeReturnTo('/account/apps')).toBe('/account/apps');
      for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example', '\\\\evil.example', 'javascript:alert(1)', 'evil', '/\t/evil.example', '', undefined, ['/a'], 'http:/evil.example']) {
        expect(safeReturnTo(bad), String(bad)).toBe('/');
      }
    });

    it('the login page carries a safe return_to and drops an unsafe one', async () => {
      expect((await loginPage('/account/apps')).returnTo).toBe('/account/apps');
      expect((await loginPage('https://evil.example/steal')).returnTo).toBe('/');
      const user = await makeUser(t);
      const r = await submit({ username: user.username, password: user.password, return_to: '//evil.example/steal' });
      expect(r.statusCode).toBe(303);
      expect(r.headers.location).toBe('/');
    });
  });

  it('POST /logout ends the session (with a CSRF token) and refuses without one', async () => {
    const user = await makeUser(t);
    const s = await signedInAs(t, user.id);
    const refused = await t.app.inject({ method: 'POST', url: '/logout', ...form({}), headers: { ...form({}).headers, cookie: s.cookie } });
    expect(refused.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: s.cookie } })).statusCode).toBe(200);
    const body = { _csrf: s.csrf('/logout') };
    const r = await t.app.inject({ method: 'POST', url: '/logout', ...form(body), headers: { ...form(body).headers, cookie: s.cookie } });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/');
    expect([r.headers['set-cookie'] ?? []].flat().some((c) => /^latch_session=;/.test(c))).toBe(true);
    expect((await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: s.cookie } })).statusCode).toBe(303);
    const sessions = await t.db.selectFrom('sessions').select('id_digest').where('user_id', '=', user.id).execute();
    expect(sessions).toHaveLength(0);
  });

  it('marks the session cookie Secure when the issuer is https', async () => {
    const app = await buildApp(
      { config: testConfig({ LATCH_ISSUER: 'https://auth.example' }), db: t.db, clock: t.clock, cookieSecret: 'another-test-cookie-secret-0123456789' },
      { logger: false },
    );
    try {
      const user = await makeUser(t);
      const page = await app.inject({ method: 'GET', url: '/login' });
      const cookie = cookiesFrom(page.headers['set-cookie']);
      const body = { _csrf: field(page.body, '_csrf')!, username: user.username, password: user.password };
      const r = await app.inject({ method: 'POST', url: '/login', ...form(body), headers: { ...form(body).headers, cookie } });
      expect(r.statusCode).toBe(303);
      const setCookie = [r.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('latch_session='))!;
      expect(setCookie).toMatch(/; Secure/);
    } finally {
      await app.close();
    }
  });

  describe('throttling (counters in the database, time from the injected clock)', () => {
    const P = THROTTLE_POLICY;

    it('blocks a guesser on an account after its free failures from its address, with 429, Retry-After and doubling blocks', async () => {
      const user = await makeUser(t);
      const guesser = '198.51.100.1';
      for (let i = 0; i < P.accountFreeFailures; i++) {
        expect((await submit({ username: user.username, password: 'wrong password' }, guesser)).statusCode).toBe(401);
      }
      // The next attempt is counted before any password is checked: refused, even with the right password.
      const blocked = await submit({ username: user.username, password: user.password }, guesser);
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBe(String(P.firstBlockSeconds));
      expect(blocked.body).toContain('<form id="login-form"');
      expect(blocked.body).toMatch(/try again in 30 seconds/);

      clock.advance(P.firstBlockSeconds - 1);
      const stillBlocked = await submit({ username: user.username, password: user.password }, guesser);
      expect(stillBlocked.statusCode).toBe(429);
      expect(stillBlocked.headers['retry-after']).toBe('1');

      // A block served earns one more attempt; the one after it blocks twice as long.
      clock.advance(1);
      expect((await submit({ username: user.username, password: 'wrong again' }, guesser)).statusCode).toBe(401);
      const doubled = await submit({ username: user.username, password: user.password }, guesser);
      expect(doubled.statusCode).toBe(429);
      expect(doubled.headers['retry-after']).toBe(String(P.firstBlockSeconds * 2));

      clock.advance(P.firstBlockSeconds * 2);
      expect((await submit({ username: user.username, password: user.password }, guesser)).statusCode).toBe(303);
      // A success clears this address's count on the account.
      const row = await t.db.selectFrom('login_attempts').selectAll().where('key', '=', `user:${user.username.toLowerCase()}|ip:${guesser}`).executeTakeFirst();
      expect(row).toBeUndefined();
    });

    it('a stranger failing from one address does not stop the owner signing in from another', async () => {
      const user = await makeUser(t);
      for (let i = 0; i < P.accountFreeFailures + 3; i++) await submit({ username: user.username, password: 'wrong password' }, '198.51.100.66');
      expect((await submit({ username: user.username, password: 'wrong password' }, '198.51.100.66')).statusCode).toBe(429);
      expect((await submit({ username: user.username, password: user.password }, '198.51.100.67')).statusCode).toBe(303);
    });

    it('past the account-wide ceiling the account is soft-locked: addresses that failed on it are refused, a new one is heard', async () => {
      const user = await makeUser(t);
      for (let i = 0; i < P.accountSoftLockFailures; i++) {
        expect((await submit({ username: user.username, password: 'wrong password' }, `198.18.0.${i + 1}`)).statusCode).toBe(401);
      }
      // One more failure from a new address crosses the ceiling; it is still heard.
      expect((await submit({ username: user.username, password: 'wrong password' }, '198.18.1.1')).statusCode).toBe(401);
      for (const failed of ['198.18.0.1', '198.18.1.1']) {
        const r = await submit({ username: user.username, password: user.password }, failed);
        expect(r.statusCode).toBe(429);
        expect(Number(r.headers['retry-after'])).toBe(P.maxBlockSeconds);
      }
      expect((await submit({ username: user.username, password: user.password }, '198.18.2.1')).statusCode).toBe(303);
      clock.advance(P.windowSeconds + 1);
    });

    it('successes are not limited', async () => {
      const user = await makeUser(t);
      for (let i = 0; i < P.addressFreeFailures + 5; i++) {
        expect((await submit({ username: user.username, password: user.password }, '203.0.113.9')).statusCode).toBe(303);
      }
    });

    it('blocks an address that fails across many accounts, and other addresses are unaffected', async () => {
      const ip = '203.0.113.77';
      for (let i = 0; i < P.addressFreeFailures; i++) {
        expect((await submit({ username: `guess${i}`, password: 'wrong password' }, ip)).statusCode).toBe(401);
      }
      expect((await submit({ username: 'one-guess-too-many', password: 'wrong password' }, ip)).statusCode).toBe(429);
      const user = await makeUser(t);
      const blocked = await submit({ username: user.username, password: user.password }, ip);
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBe(P.firstBlockSeconds);
      expect((await submit({ username: user.username, password: user.password }, '203.0.113.78')).statusCode).toBe(303);
      clock.advance(P.firstBlockSeconds);
    });

    it('forgets failures older than the window', async () => {
      const user = await makeUser(t);
      const ip = '192.0.2.100';
      for (let i = 0; i < P.accountFreeFailures; i++) await submit({ username: user.username, password: 'wrong password' }, ip);
      clock.advance(P.windowSeconds + 1);
      // A fresh window: this failure is the first, not one past the allowance.
      expect((await submit({ username: user.username, password: 'wrong password' }, ip)).statusCode).toBe(401);
      expect((await submit({ username: user.username, password: user.password }, ip)).statusCode).toBe(303);
    });

    it('the password grant at the token endpoint shares the counters with the login page', async () => {
      const user = await makeUser(t);
      const client = await makeClient(t, { grantTypes: ['password'] });
      const ip = '192.0.2.200';
      const grant = (password: string) =>
        t.app.inject({
          method: 'POST',
          url: '/oauth/token',
          remoteAddress: ip,
          ...form({ grant_type: 'password', username: user.username, password }),
          headers: { ...form({}).headers, authorization: basic(client.client_id, client.secret) },
        });
      for (let i = 0; i < P.accountFreeFailures - 1; i++) {
        expect((await submit({ username: user.username, password: 'wrong password' }, ip)).statusCode).toBe(401);
      }
      expect((await grant('wrong password')).statusCode).toBe(400);
      const r = await grant(user.password);
      expect(r.statusCode).toBe(429);
      expect(r.headers['retry-after']).toBe(String(P.firstBlockSeconds));
      expect(r.json().error).toBe('rate_limited');
      // And the login page sees the block the grant's attempt started.
      expect((await submit({ username: user.username, password: user.password }, ip)).statusCode).toBe(429);
      clock.advance(P.firstBlockSeconds);
      expect((await grant(user.password)).statusCode).toBe(200);
    });
  });
});
