import { describe, expect, it } from 'vitest';
import { SIGNUP_POLICY } from '../../src/accounts/throttle.js';
import { CSRF_COOKIE } from '../../src/web/csrf.js';
import { SESSION_COOKIE } from '../../src/web/session.js';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeUser } from '../helpers/fixtures.js';
import { cookiesFrom, encode } from '../helpers/forms.js';
import { byId, field } from '../helpers/html.js';

/** LATCH_SIGNUP=open: anyone may create an account. */
const t = useTestContext({ LATCH_SIGNUP: 'open' });
/** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
const clock = withClock(t);

let address = 0;
/** Each test signs up from an address of its own, so the per-address throttle of one does not touch another. */
const newAddress = () => `203.0.113.${++address}`;

/** Loads the sign-up page as a fresh browser would: its CSRF cookie and the form's token. */
async function openForm(ip: string, query = '') {
  const r = await t.app.inject({ method: 'GET', url: `/signup${query}`, remoteAddress: ip });
  expect(r.statusCode).toBe(200);
  return { cookie: cookiesFrom(r.headers['set-cookie']), csrf: field(r.body, '_csrf')!, html: r.body };
}

async function submit(ip: string, values: Record<string, string>, browser?: { cookie: string; csrf: string }) {
  const b = browser ?? (await openForm(ip));
  return t.app.inject({
    method: 'POST',
    url: '/signup',
    remoteAddress: ip,
    payload: encode({ _csrf: b.csrf, ...values }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie },
  });
}

const userNamed = (username: string) => t.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();

describe('GET /signup', () => {
  it('shows the form with a CSRF token, before any session exists', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/signup' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toContain('<form id="signup-form"');
    for (const name of ['username', 'email', 'password']) expect(r.body).toContain(`name="${name}"`);
    expect(field(r.body, '_csrf')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(String(r.headers['set-cookie'])).toContain(`${CSRF_COOKIE}=`);
  });

  it('a signed-in user is sent on to the console', async () => {
    const ip = newAddress();
    const r = await submit(ip, { username: 'already-in', password: 'a long enough passphrase' });
    const cookie = cookiesFrom(r.headers['set-cookie']);
    const again = await t.app.inject({ method: 'GET', url: '/signup', headers: { cookie } });
    expect(again.statusCode).toBe(302);
    expect(again.headers.location).toBe('/apps');
  });
});

describe('POST /signup', () => {
  it('creates the account with an argon2id hash, signs the user in and lands on the console', async () => {
    const ip = newAddress();
    const r = await submit(ip, { username: 'new-dev', email: 'new-dev@example.com', password: 'purple monkey dishwasher' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/apps');
    const user = await userNamed('new-dev');
    expect(user).toMatchObject({ email: 'new-dev@example.com', is_admin: false });
    expect(user!.password_hash).toMatch(/^\$argon2id\$/);
    expect(user!.password_hash).not.toContain('purple');
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toContain(`${SESSION_COOKIE}=`);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const console = await t.app.inject({ method: 'GET', url: '/apps', headers: { cookie: cookiesFrom(r.headers['set-cookie']) } });
    expect(console.statusCode).toBe(200);
    expect(console.body).toContain('new-dev');
    // The new account can sign in with its password through the login page too.
    const login = await t.app.inject({ method: 'GET', url: '/login' });
    const cookie = cookiesFrom(login.headers['set-cookie']);
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: encode({ _csrf: field(login.body, '_csrf'), username: 'new-dev', password: 'purple monkey dishwasher' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    });
    expect(signIn.statusCode).toBe(303);
  });

  it('goes back to a return_to on this site, and never to another one', async () => {
    const here = await openForm(newAddress(), '?return_to=%2Fapps%2Fnew');
    expect(field(here.html, 'return_to')).toBe('/apps/new');
    const ok = await submit(newAddress(), { username: 'returner', password: 'a long enough passphrase', return_to: '/apps/new' });
    expect(ok.headers.location).toBe('/apps/new');
    const evil = await submit(newAddress(), { username: 'returner2', password: 'a long enough passphrase', return_to: 'https://evil.example/' });
    expect(evil.statusCode).toBe(303);
    expect(evil.headers.location).toBe('/');
  });

  const refusals: Array<[string, Record<string, string>, string, RegExp]> = [
    ['a password shorter than 10 characters', { username: 'shorty', password: 'abc123xyz' }, 'password', /at least 10 characters/],
    ['a password of too few distinct characters', { username: 'repeater', password: 'aaaaaaaaaaaabbb' }, 'password', /repeat so few characters/],
    ['a password containing the username', { username: 'mallory', password: 'xx-mallory-2024' }, 'password', /must not contain the username/],
    ['an empty password', { username: 'nopass', password: '' }, 'password', /must not be empty/],
    ['a username with spaces', { username: 'two words', password: 'a long enough passphrase' }, 'username', /letters, digits/],
    ['an empty username', { username: '', password: 'a long enough passphrase' }, 'username', /letters, digits/],
    ['an email that is not one', { username: 'bad-mail', email: 'not-an-email', password: 'a long enough passphrase' }, 'email', /not an email address/],
  ];

  it.each(refusals)('refuses %s beside the field, keeps the input, creates no account', async (_what, values, fieldName, message) => {
    const r = await submit(newAddress(), values);
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, `error-${fieldName}`)).toMatch(message);
    if (values.username) expect(r.body).toContain(`value="${values.username}"`);
    if (values.email) expect(r.body).toContain(`value="${values.email}"`);
    // The password is never echoed back into the page.
    if (values.password) expect(r.body).not.toContain(values.password);
    if (values.username) expect(await userNamed(values.username)).toBeUndefined();
    expect(r.headers['set-cookie'] ? String(r.headers['set-cookie']) : '').not.toContain(`${SESSION_COOKIE}=`);
  });

  it('refuses a taken username, whatever its case', async () => {
    await makeUser(t, { username: 'Taken-Name' });
    const r = await submit(newAddress(), { username: 'taken-name', password: 'a long enough passphrase' });
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-username')).toBe('is already taken');
  });

  it('refuses a POST without the form\'s CSRF token (403), creating nothing', async () => {
    const ip = newAddress();
    const b = await openForm(ip);
    const r = await submit(ip, { username: 'no-csrf', password: 'a long enough passphrase' }, { cookie: b.cookie, csrf: 'forged' });
    expect(r.statusCode).toBe(403);
    const noCookie = await submit(ip, { username: 'no-csrf', password: 'a long enough passphrase' }, { cookie: '', csrf: b.csrf });
    expect(noCookie.statusCode).toBe(403);
    expect(await userNamed('no-csrf')).toBeUndefined();
  });

  it('answers a malformed form with a 400 page, not a 500', async () => {
    const ip = newAddress();
    const b = await openForm(ip);
    const r = await t.app.inject({
      method: 'POST',
      url: '/signup',
      remoteAddress: ip,
      payload: `_csrf=${b.csrf}&username=a&username=b&password=x`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie },
    });
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-code')).toBe('invalid_request');
  });
});

describe('throttling', () => {
  it(`allows ${SIGNUP_POLICY.freeAttempts} attempts per address in a window, then answers 429 with Retry-After until the block ends`, async () => {
    const ip = newAddress();
    for (let i = 0; i < SIGNUP_POLICY.freeAttempts; i++) {
      const r = await submit(ip, { username: `bulk${i}`, password: i % 2 ? 'short' : 'a long enough passphrase' });
      expect(r.statusCode, `attempt ${i + 1}`).not.toBe(429);
    }
    const blocked = await submit(ip, { username: 'one-too-many', password: 'a long enough passphrase' });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBe(String(SIGNUP_POLICY.blockSeconds));
    expect(byId(blocked.body, 'signup-error')).toMatch(/Too many sign-up attempts/);
    expect(await userNamed('one-too-many')).toBeUndefined();

    // Another address is not affected.
    expect((await submit(newAddress(), { username: 'elsewhere', password: 'a long enough passphrase' })).statusCode).toBe(303);

    clock.advance(SIGNUP_POLICY.blockSeconds + 1);
    const later = await submit(ip, { username: 'after-the-block', password: 'a long enough passphrase' });
    expect(later.statusCode).toBe(303);
  });

  it(`60 concurrent sign-ups from one address create at most ${SIGNUP_POLICY.freeAttempts} accounts`, async () => {
    const ip = newAddress();
    // One browser, opened once: all 60 are in flight together, counted before any account is made.
    const browser = await openForm(ip);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => submit(ip, { username: `burst${i}`, password: 'a long enough passphrase' }, browser)),
    );
    expect(results.every((r) => r.statusCode === 303 || r.statusCode === 429), results.map((r) => r.statusCode).join(',')).toBe(true);
    const created = await t.db.selectFrom('users').select('username').where('username', 'like', 'burst%').execute();
    expect(created.length).toBeGreaterThan(0);
    expect(created.length).toBeLessThanOrEqual(SIGNUP_POLICY.freeAttempts);
    expect(results.filter((r) => r.statusCode === 303)).toHaveLength(created.length);
    clock.advance(SIGNUP_POLICY.blockSeconds + 1);
  });

  it('does not count sign-ups against anyone\'s sign-in throttle', async () => {
    const rows = await t.db.selectFrom('login_attempts').select('key').execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.key.startsWith('signup:'))).toBe(true);
  });
});

describe('finding the sign-up page', () => {
  it('the home and login pages link to it when sign-up is open, keeping where the user was going', async () => {
    const home = await t.app.inject({ method: 'GET', url: '/' });
    expect(home.body).toContain('href="/signup"');
    const login = await t.app.inject({ method: 'GET', url: '/login?return_to=%2Fapps%2Fnew' });
    expect(login.body).toContain('href="/signup?return_to=%2Fapps%2Fnew"');
  });
});
