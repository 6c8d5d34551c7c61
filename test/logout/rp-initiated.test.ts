import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, SignJWT } from 'jose';
import { epochSeconds } from '../../src/clock.js';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { cookiesFrom, encode, form } from '../helpers/forms.js';
import { byId, field } from '../helpers/html.js';
import { REDIRECT, sessionOf, signInToApp } from './helpers.js';

const ISSUER = 'https://id.example.com';
const SIGNED_OUT = 'https://app.example/signed-out';
const t = useTestContext({ LATCH_ISSUER: ISSUER, LATCH_ID_TOKEN_TTL: '600' });
const clock = withClock(t);

let user: Awaited<ReturnType<typeof makeUser>>;
let other: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;
let otherApp: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  user = await makeUser(t, { username: 'lena' });
  other = await makeUser(t, { username: 'omar' });
  app = await makeClient(t, { redirectUris: [REDIRECT], postLogoutRedirectUris: [SIGNED_OUT, 'http://127.0.0.1:9000/bye?from=latch'] });
  otherApp = await makeClient(t, { redirectUris: [REDIRECT], postLogoutRedirectUris: ['https://other.example/bye'] });
});

/** A signed-in browser and the ID token its app got. */
async function signedInWithHint(who = user, client = app) {
  const session = await sessionOf(t, who.id);
  const { id_token } = await signInToApp(t, client, who.id, session.sid);
  return { session, hint: id_token };
}

const logoutGet = (query: Record<string, string>, cookie?: string) =>
  t.app.inject({ method: 'GET', url: `/oauth/logout?${encode(query)}`, headers: cookie ? { cookie, accept: 'text/html' } : { accept: 'text/html' } });
const logoutPost = (values: Record<string, string | undefined>, cookie?: string) => {
  const { payload, headers } = form(values);
  return t.app.inject({ method: 'POST', url: '/oauth/logout', payload, headers: cookie ? { ...headers, cookie } : headers });
};
const sessionAlive = async (sid: string) => (await t.db.selectFrom('sessions').select('sid').where('sid', '=', sid).executeTakeFirst()) !== undefined;
const signouts = (userId: string) => t.db.selectFrom('audit_events').selectAll().where('action', '=', 'signout').where('target_user_id', '=', userId).execute();

describe('a valid id_token_hint and a registered post_logout_redirect_uri', () => {
  it('ends the session, clears the cookie, records the sign-out and redirects there with state', async () => {
    const { session, hint } = await signedInWithHint();
    const before = (await signouts(user.id)).length;
    const r = await logoutGet({ id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT, state: 'st-123', ui_locales: 'de fr' }, session.cookie);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`${SIGNED_OUT}?state=st-123`);
    expect(await sessionAlive(session.sid)).toBe(false);
    expect(cookiesFrom(r.headers['set-cookie'], session.cookie)).not.toContain('latch_session=');
    const events = await signouts(user.id);
    expect(events.length).toBe(before + 1);
    expect(events.at(-1)).toMatchObject({ outcome: 'success', target_client_id: app.client_id, actor_id: user.id });
  });

  it('keeps the registered URI\'s own query and adds state to it; without state adds nothing', async () => {
    const a = await signedInWithHint();
    const r1 = await logoutGet({ id_token_hint: a.hint, post_logout_redirect_uri: 'http://127.0.0.1:9000/bye?from=latch', state: 'a b' }, a.session.cookie);
    expect(r1.headers.location).toBe('http://127.0.0.1:9000/bye?from=latch&state=a+b');
    const b = await signedInWithHint();
    const r2 = await logoutGet({ id_token_hint: b.hint, post_logout_redirect_uri: SIGNED_OUT }, b.session.cookie);
    expect(r2.headers.location).toBe(SIGNED_OUT);
  });

  it('accepts an expired ID token as the hint (RP-Initiated Logout §2)', async () => {
    const { session, hint } = await signedInWithHint();
    clock.advance(3600); // the ID token lived 600 s; the session lives on
    const r = await logoutGet({ id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT, state: 's' }, session.cookie);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`${SIGNED_OUT}?state=s`);
    expect(await sessionAlive(session.sid)).toBe(false);
  });

  it('works by POST from the app (a form without _csrf), as by GET', async () => {
    const { session, hint } = await signedInWithHint();
    const r = await logoutPost({ id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT, state: 'p' }, session.cookie);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`${SIGNED_OUT}?state=p`);
    expect(await sessionAlive(session.sid)).toBe(false);
  });

  it('with a hint but no redirect URI, ends the session and shows the signed-out page', async () => {
    const { session, hint } = await signedInWithHint();
    const r = await logoutGet({ id_token_hint: hint }, session.cookie);
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'signed-out')).toContain('signed out');
    expect(await sessionAlive(session.sid)).toBe(false);
  });

  it('a browser that is no longer signed in is sent straight back', async () => {
    const { hint } = await signedInWithHint();
    const r = await logoutGet({ id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT, state: 'x' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`${SIGNED_OUT}?state=x`);
  });
});

describe('without a valid hint for the signed-in user: the user confirms', () => {
  it('no hint: a CSRF-protected confirmation page; nothing ends until the user confirms', async () => {
    const session = await sessionOf(t, user.id);
    const r = await logoutGet({ client_id: app.client_id, post_logout_redirect_uri: SIGNED_OUT, state: 'c1' }, session.cookie);
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('<form id="logout-form"');
    expect(field(r.body, '_csrf')).toBe(session.csrf('/oauth/logout'));
    expect(field(r.body, 'post_logout_redirect_uri')).toBe(SIGNED_OUT);
    expect(field(r.body, 'state')).toBe('c1');
    expect(await sessionAlive(session.sid)).toBe(true);

    const confirmed = await logoutPost({ _csrf: field(r.body, '_csrf'), client_id: app.client_id, post_logout_redirect_uri: SIGNED_OUT, state: 'c1' }, session.cookie);
    expect(confirmed.statusCode).toBe(303);
    expect(confirmed.headers.location).toBe(`${SIGNED_OUT}?state=c1`);
    expect(await sessionAlive(session.sid)).toBe(false);
  });

  it('a confirmation with a wrong or missing CSRF token is refused (403) and the session lives', async () => {
    const session = await sessionOf(t, user.id);
    for (const _csrf of ['forged', '']) {
      const r = await t.app.inject({ method: 'POST', url: '/oauth/logout', ...form({ _csrf }), headers: { ...form({}).headers, cookie: session.cookie, accept: 'text/html' } });
      expect(r.statusCode).toBe(403);
      expect(r.headers['content-type']).toContain('text/html');
    }
    expect(await sessionAlive(session.sid)).toBe(true);
  });

  it('a confirmation without a redirect URI shows the signed-out page and records the sign-out', async () => {
    const session = await sessionOf(t, other.id);
    const page = await logoutGet({}, session.cookie);
    expect(page.body).toContain('<form id="logout-form"');
    const r = await logoutPost({ _csrf: session.csrf('/oauth/logout') }, session.cookie);
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'signed-out')).toContain('signed out');
    expect(await sessionAlive(session.sid)).toBe(false);
    expect((await signouts(other.id)).length).toBeGreaterThan(0);
  });

  it('a hint for another user than the one signed in asks first', async () => {
    const { hint } = await signedInWithHint(other);
    const session = await sessionOf(t, user.id);
    const r = await logoutGet({ id_token_hint: hint, post_logout_redirect_uri: SIGNED_OUT }, session.cookie);
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('<form id="logout-form"');
    expect(await sessionAlive(session.sid)).toBe(true);
  });

  it('signed out and no parameters: the signed-out page', async () => {
    const r = await logoutGet({});
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'signed-out')).toContain('signed out');
  });
});

describe('bad input: a clear 400 page, no redirect, the session untouched', () => {
  async function expectRefused(query: Record<string, string> | string, message: RegExp) {
    const session = await sessionOf(t, user.id);
    const url = typeof query === 'string' ? `/oauth/logout?${query}` : `/oauth/logout?${encode(query)}`;
    const r = await t.app.inject({ method: 'GET', url, headers: { cookie: session.cookie, accept: 'text/html' } });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.headers.location).toBeUndefined();
    expect(r.body).toMatch(message);
    expect(await sessionAlive(session.sid)).toBe(true);
    return r;
  }

  it('a malformed id_token_hint', async () => {
    await expectRefused({ id_token_hint: 'not-a-jwt', post_logout_redirect_uri: SIGNED_OUT }, /not an ID token signed by this server/);
  });

  it('an id_token_hint signed by someone else\'s key', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const now = epochSeconds(clock.now());
    const forged = await new SignJWT({ iss: ISSUER, sub: user.id, aud: app.client_id, iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'RS256', kid: 'x' }).sign(privateKey);
    await expectRefused({ id_token_hint: forged, post_logout_redirect_uri: SIGNED_OUT }, /not an ID token signed by this server/);
  });

  it('an id_token_hint for another issuer, even under latch\'s key', async () => {
    const now = epochSeconds(clock.now());
    const token = await t.app.signingKeys.sign({ iss: 'https://elsewhere.example', sub: user.id, aud: app.client_id, iat: now, exp: now + 600 });
    await expectRefused({ id_token_hint: token }, /issued by another server/);
  });

  it('a JWT access token or a logout token is not a hint', async () => {
    const now = epochSeconds(clock.now());
    for (const typ of ['at+jwt', 'logout+jwt']) {
      const token = await t.app.signingKeys.sign({ iss: ISSUER, sub: user.id, aud: app.client_id, iat: now, exp: now + 600 }, { typ });
      await expectRefused({ id_token_hint: token }, /is not an ID token/);
    }
  });

  it('a post_logout_redirect_uri the app did not register (exact match only)', async () => {
    const { hint } = await signedInWithHint();
    await expectRefused({ id_token_hint: hint, post_logout_redirect_uri: 'https://evil.example/' }, /not registered for this app/);
    await expectRefused({ id_token_hint: hint, post_logout_redirect_uri: `${SIGNED_OUT}/` }, /not registered for this app/);
    await expectRefused({ id_token_hint: hint, post_logout_redirect_uri: 'https://other.example/bye' }, /not registered for this app/);
  });

  it('a post_logout_redirect_uri with neither hint nor client_id', async () => {
    await expectRefused({ post_logout_redirect_uri: SIGNED_OUT }, /needs an id_token_hint or a client_id/);
  });

  it('a client_id other than the hint\'s audience, and an unknown client_id', async () => {
    const { hint } = await signedInWithHint();
    await expectRefused({ id_token_hint: hint, client_id: otherApp.client_id }, /not the app the id_token_hint was issued to/);
    await expectRefused({ client_id: 'no-such-client' }, /Unknown client_id/);
  });

  it('a repeated parameter', async () => {
    await expectRefused(`state=a&state=b`, /malformed/);
    await expectRefused(`client_id=${app.client_id}&client_id=${app.client_id}`, /malformed/);
  });

  it('an unregistered URI in a forged confirmation is refused too', async () => {
    const session = await sessionOf(t, user.id);
    const r = await logoutPost({ _csrf: session.csrf('/oauth/logout'), client_id: app.client_id, post_logout_redirect_uri: 'https://evil.example/' }, session.cookie);
    expect(r.statusCode).toBe(400);
    expect(r.headers.location).toBeUndefined();
    expect(await sessionAlive(session.sid)).toBe(true);
  });
});

it('discovery names the end_session_endpoint and back-channel logout support', async () => {
  const doc = (await t.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json();
  expect(doc).toMatchObject({ end_session_endpoint: `${ISSUER}/oauth/logout`, backchannel_logout_supported: true, backchannel_logout_session_supported: true });
});
