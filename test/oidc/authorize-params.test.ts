import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { epochSeconds } from '../../src/clock.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost as post, cookiesFrom, form } from '../helpers/forms.js';
import { decodeEntities, field } from '../helpers/html.js';
import { pkce } from '../helpers/pkce.js';
import { TEST_EPOCH } from '../helpers/clock.js';
import { authorizeUrl } from '../pages/helpers.js';
import { ManualClock } from '../../src/clock.js';

const ISSUER = 'https://id.example.com';
const REDIRECT = 'https://app.example/callback';
let t: TestContext;
const clock = new ManualClock(TEST_EPOCH);
let user: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  t = await createTestContext({ LATCH_ISSUER: ISSUER, LATCH_SCOPES: 'read write', LATCH_DEFAULT_SCOPE: 'read' });
  // Sessions age across these tests in order: one file-wide clock.
  t.clock.use(clock);
  user = await makeUser(t);
});
afterAll(() => t.close());

type TestClient = Awaited<ReturnType<typeof makeClient>>;

/** A browser: its cookies, kept across requests. */
interface Browser {
  cookie: string;
}

async function get(browser: Browser, url: string) {
  const r = await t.app.inject({ method: 'GET', url, headers: { cookie: browser.cookie } });
  browser.cookie = cookiesFrom(r.headers['set-cookie'], browser.cookie);
  return r;
}

/** Signs in on the login form at `loginUrl` (as the authorize endpoint sent us there); answers where the form sends the browser. */
async function submitLogin(browser: Browser, loginUrl: string) {
  const page = await get(browser, loginUrl);
  expect(page.statusCode, page.body).toBe(200);
  const body = { _csrf: field(page.body, '_csrf')!, return_to: field(page.body, 'return_to')!, username: user.username, password: user.password };
  const r = await t.app.inject({ method: 'POST', url: '/login', ...form(body), headers: { ...form(body).headers, cookie: browser.cookie } });
  expect(r.statusCode, r.body).toBe(303);
  browser.cookie = cookiesFrom(r.headers['set-cookie'], browser.cookie);
  return r.headers.location as string;
}

async function signedInBrowser(): Promise<Browser> {
  const browser = { cookie: '' };
  await submitLogin(browser, '/login');
  return browser;
}

/** Allows on the consent page the request renders. */
async function allow(browser: Browser, url: string) {
  const page = await get(browser, url);
  expect(page.statusCode, page.body).toBe(200);
  expect(page.body).toContain('name="decision"');
  const hidden = [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, decodeEntities(m[2]!)]);
  const body = new URLSearchParams([...hidden, ['decision', 'allow']]).toString();
  const r = await t.app.inject({ method: 'POST', url: '/oauth/authorize', payload: body, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie } });
  expect(r.statusCode, r.body).toBe(303);
  return new URL(r.headers.location as string);
}

function request(client: TestClient, extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const params = { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra };
  return { url: authorizeUrl(params), verifier };
}

/** The redirect the endpoint answered with, as a URL at the client (asserting it is one). */
function atClient(r: { statusCode: number; headers: Record<string, unknown>; body: string }): URL {
  expect(r.statusCode, r.body).toBe(302);
  const location = new URL(r.headers.location as string);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  return location;
}

async function idTokenFor(client: TestClient, code: string, verifier: string) {
  const r = await post(t.app, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, asAuth(client));
  expect(r.statusCode, r.body).toBe(200);
  return decodeJwt(r.json().id_token);
}

/** A client the user has already consented to for `openid read`. */
async function consentedClient(browser: Browser, overrides: Parameters<typeof makeClient>[1] = {}) {
  const client = await makeClient(t, overrides);
  const { url } = request(client);
  expect((await allow(browser, url)).searchParams.get('code')).toBeTruthy();
  return client;
}

describe('bad parameter values are an error at the redirect URI', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['an oversized nonce', { nonce: 'n'.repeat(513) }],
    ['an unknown prompt value', { prompt: 'select_account' }],
    ['prompt=none with login', { prompt: 'none login' }],
    ['prompt=none with consent', { prompt: 'consent none' }],
    ['a negative max_age', { max_age: '-1' }],
    ['a fractional max_age', { max_age: '1.5' }],
    ['a non-numeric max_age', { max_age: 'soon' }],
    ['an enormous max_age', { max_age: '99999999999999999999' }],
    ['an oversized login_hint', { login_hint: 'u'.repeat(257) }],
  ];
  it.each(cases)('%s → invalid_request', async (_name, extra) => {
    const client = await makeClient(t);
    const browser = await signedInBrowser();
    const at = atClient(await get(browser, request(client, extra).url));
    expect(at.searchParams.get('error')).toBe('invalid_request');
    expect(at.searchParams.get('state')).toBe('st');
  });

  it('a repeated nonce → invalid_request', async () => {
    const client = await makeClient(t);
    const at = atClient(await get({ cookie: '' }, `${request(client).url}&nonce=a&nonce=b`));
    expect(at.searchParams.get('error')).toBe('invalid_request');
  });

  it('accepts a 512-character nonce and a 256-character login_hint', async () => {
    const client = await makeClient(t);
    const r = await get({ cookie: '' }, request(client, { nonce: 'n'.repeat(512), login_hint: 'u'.repeat(256) }).url);
    expect(r.statusCode).toBe(302);
    expect(r.headers.location).toMatch(/^\/login\?/);
  });
});

describe('prompt=none never renders a page', () => {
  it('without a session → login_required', async () => {
    const client = await makeClient(t);
    const at = atClient(await get({ cookie: '' }, request(client, { prompt: 'none' }).url));
    expect(at.searchParams.get('error')).toBe('login_required');
    expect(at.searchParams.get('state')).toBe('st');
  });

  it('with a session but no consent → consent_required', async () => {
    const client = await makeClient(t);
    const at = atClient(await get(await signedInBrowser(), request(client, { prompt: 'none' }).url));
    expect(at.searchParams.get('error')).toBe('consent_required');
  });

  it('with a session older than max_age → login_required', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    clock.advance(120);
    const at = atClient(await get(browser, request(client, { prompt: 'none', max_age: '60' }).url));
    expect(at.searchParams.get('error')).toBe('login_required');
  });

  it('with a session and consent → a code, silently', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    const { url, verifier } = request(client, { prompt: 'none', nonce: 'silent-nonce' });
    const at = atClient(await get(browser, url));
    expect(at.searchParams.get('error')).toBeNull();
    const idToken = await idTokenFor(client, at.searchParams.get('code')!, verifier);
    expect(idToken.nonce).toBe('silent-nonce');
  });
});

describe('re-authentication', () => {
  for (const [name, extra] of [['prompt=login', { prompt: 'login' }], ['max_age=0', { max_age: '0' }]] as const) {
    it(`${name} sends a signed-in user to the login form; the code's ID token has the new auth_time`, async () => {
      const browser = await signedInBrowser();
      const client = await consentedClient(browser);
      const firstSignIn = epochSeconds(t.clock.now());
      clock.advance(300);

      const { url, verifier } = request(client, { ...extra, nonce: 'again' });
      const first = await get(browser, url);
      expect(first.statusCode).toBe(302);
      const loginUrl = first.headers.location as string;
      expect(loginUrl).toMatch(/^\/login\?/);
      expect(new URL(loginUrl, ISSUER).searchParams.get('reauth')).toBe('1');

      const back = await submitLogin(browser, loginUrl);
      // The way back does not ask for the sign-in again (no loop).
      expect(back).not.toMatch(/prompt=login|max_age/);
      const at = atClient(await get(browser, back));
      const idToken = await idTokenFor(client, at.searchParams.get('code')!, verifier);
      expect(idToken.auth_time).toBe(firstSignIn + 300);
      expect(idToken.nonce).toBe('again');
    });
  }

  it('keeps prompt=consent after re-authenticating for prompt="login consent"', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    const first = await get(browser, request(client, { prompt: 'login consent' }).url);
    const back = await submitLogin(browser, first.headers.location as string);
    expect(new URL(back, ISSUER).searchParams.get('prompt')).toBe('consent');
    const page = await get(browser, back);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('name="decision"');
  });

  it('max_age larger than the session age does not re-authenticate', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    const signedInAt = epochSeconds(t.clock.now());
    clock.advance(30);
    const { url, verifier } = request(client, { max_age: '60' });
    const at = atClient(await get(browser, url));
    const idToken = await idTokenFor(client, at.searchParams.get('code')!, verifier);
    expect(idToken.auth_time).toBe(signedInAt);
  });

  it('without a session, prompt=login signs in once and comes back without asking again', async () => {
    const client = await makeClient(t, { skipConsent: true });
    const browser: Browser = { cookie: '' };
    const { url, verifier } = request(client, { prompt: 'login', max_age: '0' });
    const first = await get(browser, url);
    const loginUrl = first.headers.location as string;
    expect(new URL(loginUrl, ISSUER).searchParams.get('reauth')).toBeNull();
    const at = atClient(await get(browser, await submitLogin(browser, loginUrl)));
    const idToken = await idTokenFor(client, at.searchParams.get('code')!, verifier);
    expect(idToken.auth_time).toBe(epochSeconds(t.clock.now()));
  });
});

describe('prompt=consent', () => {
  it('shows the consent page even when consent is remembered', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    const at = await allow(browser, request(client, { prompt: 'consent' }).url);
    expect(at.searchParams.get('code')).toBeTruthy();
  });

  it('shows the consent page even for a skip-consent app', async () => {
    const browser = await signedInBrowser();
    const client = await makeClient(t, { skipConsent: true });
    expect(atClient(await get(browser, request(client).url)).searchParams.get('code')).toBeTruthy();
    const at = await allow(browser, request(client, { prompt: 'consent' }).url);
    expect(at.searchParams.get('code')).toBeTruthy();
  });
});

describe('login_hint and nonce', () => {
  it('login_hint prefills the username on the login page', async () => {
    const client = await makeClient(t);
    const r = await get({ cookie: '' }, request(client, { login_hint: 'ada@example.com' }).url);
    const page = await get({ cookie: '' }, r.headers.location as string);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="username" name="username" type="text"');
    expect(page.body).toMatch(/name="username"[^>]*value="ada@example.com"/);
  });

  it('nonce reaches the ID token; sid and amr come from the session', async () => {
    const browser = await signedInBrowser();
    const client = await consentedClient(browser);
    const { url, verifier } = request(client, { nonce: 'n-0S6_WzA2Mj' });
    const at = atClient(await get(browser, url));
    const idToken = await idTokenFor(client, at.searchParams.get('code')!, verifier);
    expect(idToken.nonce).toBe('n-0S6_WzA2Mj');
    expect(idToken.amr).toEqual(['pwd']);
    expect(typeof idToken.sid).toBe('string');
  });

  it('the code flow without any OIDC parameter is unchanged', async () => {
    const browser = await signedInBrowser();
    const client = await makeClient(t);
    const { verifier, challenge } = pkce();
    const params = { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: 'read', state: 'plain', code_challenge: challenge, code_challenge_method: 'S256' };
    const at = await allow(browser, authorizeUrl(params));
    expect(at.searchParams.get('state')).toBe('plain');
    expect(at.searchParams.get('iss')).toBe(ISSUER);
    const r = await post(t.app, '/oauth/token', { grant_type: 'authorization_code', code: at.searchParams.get('code')!, code_verifier: verifier, redirect_uri: REDIRECT }, asAuth(client));
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().id_token).toBeUndefined();
    // Remembered consent: the next request answers without a page.
    expect(atClient(await get(browser, authorizeUrl({ ...params, state: 'again' }))).searchParams.get('code')).toBeTruthy();
  });
});
