import { generateKeyPairSync } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { CHALLENGE_SECONDS } from '../../src/accounts/passkeys.js';
import { useTestContext, type TestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeUser } from '../helpers/fixtures.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { decodeEntities } from '../helpers/html.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { SoftAuthenticator } from '../helpers/webauthn.js';
import { lastEvent } from '../audit/helpers.js';
import { enrol } from './helpers.js';

const ISSUER = 'http://localhost:38443';
const RP_ID = 'localhost';
const ORIGIN = ISSUER;

/** A data-* attribute of the element with this id. */
function dataOf(html: string, id: string, name: string): string {
  const tag = new RegExp(`<[a-z]+ [^>]*id="${id}"[^>]*>`).exec(html)?.[0];
  const value = tag ? new RegExp(`data-${name}="([^"]*)"`).exec(tag)?.[1] : undefined;
  if (value === undefined) throw new Error(`no data-${name} on #${id}`);
  return decodeEntities(value);
}

function postJson(t: Pick<TestContext, 'app'>, url: string, cookie: string, body: unknown) {
  return t.app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', cookie } });
}

/** A 400 with an RFC 6749-shaped JSON body whose description says `pattern`. */
function expectClear400(r: LightMyRequestResponse, pattern: RegExp) {
  expect(r.statusCode, r.body).toBe(400);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json() as { error: string; error_description: string };
  expect(body.error).toBe('invalid_request');
  expect(body.error_description).toMatch(pattern);
  expect(r.body).not.toMatch(/\bat [\w.]+ \(|stack/);
}

/** A signed-in user's browser on /account/security: its cookie, and the tokens the add-passkey button carries. */
async function securityPage(t: TestContext, session: SignedIn) {
  const page = await t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
  expect(page.statusCode).toBe(200);
  return { html: page.body, optionsCsrf: dataOf(page.body, 'add-passkey', 'options-csrf'), verifyCsrf: dataOf(page.body, 'add-passkey', 'verify-csrf') };
}

/** Asks for registration options as this browser: the options and the cookies now holding the challenge's id. */
async function registrationOptions(t: TestContext, session: SignedIn) {
  const page = await securityPage(t, session);
  const r = await postJson(t, '/account/passkeys/options', session.cookie, { _csrf: page.optionsCsrf });
  expect(r.statusCode, r.body).toBe(200);
  return { options: r.json().options, cookie: cookiesFrom(r.headers['set-cookie'], session.cookie), verifyCsrf: page.verifyCsrf };
}

async function addPasskey(t: TestContext, session: SignedIn, authenticator: SoftAuthenticator, name = 'Laptop') {
  const { options, cookie, verifyCsrf } = await registrationOptions(t, session);
  const r = await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, name, response: authenticator.register(options) });
  expect(r.statusCode, r.body).toBe(201);
  return r;
}

/** A signed-out browser at the login page asking for sign-in options: the options, its cookies, the verify token. */
async function signinOptions(t: TestContext, returnTo = '/') {
  const login = await t.app.inject({ method: 'GET', url: `/login?return_to=${encodeURIComponent(returnTo)}` });
  let cookie = cookiesFrom(login.headers['set-cookie']);
  const r = await postJson(t, '/login/passkey/options', cookie, { _csrf: dataOf(login.body, 'passkey-signin', 'options-csrf'), return_to: dataOf(login.body, 'passkey-signin', 'return-to') });
  expect(r.statusCode, r.body).toBe(200);
  cookie = cookiesFrom(r.headers['set-cookie'], cookie);
  return { options: r.json().options, cookie, verifyCsrf: dataOf(login.body, 'passkey-signin', 'verify-csrf') };
}

const signinWith = (t: TestContext, step: { cookie: string; verifyCsrf: string }, response: unknown) =>
  postJson(t, '/login/passkey', step.cookie, { _csrf: step.verifyCsrf, response });

describe('passkeys when the issuer is an IP address', () => {
  const t = useTestContext({ LATCH_ISSUER: 'http://127.0.0.1:38443' });

  it('/account/security says passkeys need a host name and offers no button; the login page offers none; the endpoints refuse clearly', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const page = await t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/id="passkeys-unavailable"[^>]*>Passkeys need a host name[^<]*localhost/);
    expect(page.body).not.toContain('id="add-passkey"');
    expect(page.body).not.toContain('<script');
    const login = await t.app.inject({ method: 'GET', url: '/login' });
    expect(login.body).not.toContain('id="passkey-signin"');
    const r = await postJson(t, '/account/passkeys/options', session.cookie, { _csrf: session.csrf('/account/passkeys/options') });
    expectClear400(r, /need a host name/);
  });
});

describe('passkeys with a host-name issuer', () => {
  const t = useTestContext({ LATCH_ISSUER: ISSUER });
  const clock = withClock(t);

  it('registers a passkey: the public key, counter and backup state are stored, the page lists it, passkey.add is recorded', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const { html } = await securityPage(t, session);
    expect(html).toContain('<button type="button" class="primary" id="add-passkey"');
    expect(html).toContain('<script src="/static/passkeys.js" defer></script>');
    expect(html).toContain('id="passkeys-none"');

    const { options, cookie, verifyCsrf } = await registrationOptions(t, session);
    expect(options.rp).toEqual({ id: RP_ID, name: t.config.siteName });
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'preferred' });
    expect(Buffer.from(options.user.id, 'base64url').toString()).toBe(user.id);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    const r = await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, name: '  Work   laptop ', response: authenticator.register(options) });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toEqual({ passkey: { id: authenticator.id, name: 'Work laptop' }, redirect: '/account/security' });

    const row = await t.db.selectFrom('passkeys').selectAll().where('id', '=', authenticator.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ user_id: user.id, name: 'Work laptop', device_type: 'singleDevice', backed_up: false, transports: ['internal'] });
    expect(Number(row.counter)).toBe(0);
    expect(row.public_key.length).toBeGreaterThan(80);
    const event = await lastEvent(t, 'passkey.add');
    expect(event).toMatchObject({ outcome: 'success', target_user_id: user.id });
    expect(event!.details).toMatchObject({ label: 'Work laptop' });

    const after = await securityPage(t, session);
    expect(after.html).toContain('value="Work laptop"');
    expect(after.html).not.toContain('id="passkeys-none"');
  });

  it('a registration answer is accepted once: the same answer again finds no challenge', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const { options, cookie, verifyCsrf } = await registrationOptions(t, session);
    const response = new SoftAuthenticator(RP_ID, ORIGIN).register(options);
    expect((await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, response })).statusCode).toBe(201);
    expectClear400(await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, response }), /expired or was already used/);
    expect(await t.db.selectFrom('passkeys').select('id').where('user_id', '=', user.id).execute()).toHaveLength(1);
  });

  it('a challenge expires after five minutes by the injected clock', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const { options, cookie, verifyCsrf } = await registrationOptions(t, session);
    clock.advance(CHALLENGE_SECONDS);
    const r = await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, response: new SoftAuthenticator(RP_ID, ORIGIN).register(options) });
    expectClear400(r, /expired or was already used/);

    const step = await signinOptions(t);
    clock.advance(CHALLENGE_SECONDS - 1);
    // One second before the end it still counts (and is then used up by a response that does not verify).
    expectClear400(await signinWith(t, step, { id: 'nope' }), /not registered here/);
  });

  it('refuses responses that do not verify with a clear 400 JSON error, and keeps nothing', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const cases: Array<[string, (options: never) => unknown, RegExp]> = [
      ['an empty object', () => ({}), /could not be added/],
      ['the wrong origin', (o) => new SoftAuthenticator(RP_ID, 'https://evil.example').register(o), /could not be added: .*origin/i],
      ['the wrong RP ID', (o) => new SoftAuthenticator('evil.example', ORIGIN).register(o), /could not be added: .*RP ID/i],
      ['an answer to another challenge', (o: { user: { id: string } }) => new SoftAuthenticator(RP_ID, ORIGIN).register({ challenge: 'AAAA', user: o.user }), /could not be added: .*challenge/i],
      ['garbage base64', () => ({ id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: '%%%', attestationObject: '!!' } }), /could not be added/],
    ];
    for (const [what, make, pattern] of cases) {
      const { options, cookie, verifyCsrf } = await registrationOptions(t, session);
      const r = await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, response: make(options as never) });
      expect(r.statusCode, `${what}: ${r.body}`).toBe(400);
      expectClear400(r, pattern);
    }
    const { cookie, verifyCsrf } = await registrationOptions(t, session);
    expectClear400(await postJson(t, '/account/passkeys', cookie, { _csrf: verifyCsrf, response: 'not an object' }), /malformed/);
    const notJson = await t.app.inject({ method: 'POST', url: '/account/passkeys', payload: '{"_csrf":', headers: { 'content-type': 'application/json', cookie } });
    expect(notJson.statusCode).toBe(400);
    expect(await t.db.selectFrom('passkeys').select('id').where('user_id', '=', user.id).execute()).toEqual([]);
    expect((await lastEvent(t, 'passkey.add'))!.outcome).toBe('failure');
  });

  it('every passkey endpoint is CSRF-protected: 403 JSON, no challenge issued, nothing changed', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const before = await t.db.selectFrom('webauthn_challenges').select('id_digest').execute();
    for (const url of ['/account/passkeys/options', '/account/passkeys', '/login/passkey/options', '/login/passkey']) {
      for (const csrf of [undefined, session.csrf('/elsewhere')]) {
        const r = await postJson(t, url, session.cookie, { ...(csrf ? { _csrf: csrf } : {}), response: {} });
        expect(r.statusCode, `${url} ${csrf ? 'wrong' : 'no'} token`).toBe(403);
        expect(r.json().error).toBe('access_denied');
        expect(r.headers['set-cookie'] ?? '').not.toContain('latch_webauthn');
      }
    }
    expect(await t.db.selectFrom('webauthn_challenges').select('id_digest').execute()).toEqual(before);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, session, authenticator);
    for (const url of ['/account/security/passkeys/remove', '/account/security/passkeys/rename']) {
      const r = await t.app.inject({ method: 'POST', url, ...form({ id: authenticator.id, name: 'x' }), headers: { ...form({}).headers, cookie: session.cookie } });
      expect(r.statusCode, url).toBe(403);
    }
    expect(await t.db.selectFrom('passkeys').select('name').where('id', '=', authenticator.id).executeTakeFirst()).toEqual({ name: 'Laptop' });
  });

  it('signs in with a discoverable passkey through the one session start: amr, return_to, counter, signin.success with method passkey', async () => {
    const user = await makeUser(t);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, await signedInAs(t, user.id), authenticator);
    const returnTo = '/oauth/authorize?client_id=app&response_type=code';
    const step = await signinOptions(t, returnTo);
    expect(step.options.rpId).toBe(RP_ID);
    expect(step.options.allowCredentials ?? []).toEqual([]);
    expect(step.options.userVerification).toBe('preferred');
    clock.advance(60);
    const r = await signinWith(t, step, authenticator.authenticate(step.options));
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ redirect: returnTo });
    const cookie = cookiesFrom(r.headers['set-cookie'], step.cookie);
    const home = await t.app.inject({ method: 'GET', url: '/', headers: { cookie } });
    expect(home.body).toContain(`Signed in as <strong>${user.username}</strong>`);

    // The session that added the passkey signed in by password; the new one by passkey.
    const sessions = await t.db.selectFrom('sessions').select(['amr', 'auth_time']).where('user_id', '=', user.id).execute();
    expect(sessions.map((s) => s.amr)).toEqual(expect.arrayContaining([['hwk', 'user', 'mfa']]));
    const row = await t.db.selectFrom('passkeys').select(['counter', 'last_used_at']).where('id', '=', authenticator.id).executeTakeFirstOrThrow();
    expect(Number(row.counter)).toBe(1);
    expect(row.last_used_at).toEqual(clock.now());
    const event = await lastEvent(t, 'signin.success');
    expect(event).toMatchObject({ target_user_id: user.id, outcome: 'success' });
    expect(event!.details).toMatchObject({ method: 'passkey', label: 'Laptop', user_verified: true });
  });

  it('a passkey sign-in satisfies two-step sign-in: no TOTP step for a verified user', async () => {
    const user = await makeUser(t);
    const { session } = await enrol({ app: t.app, db: t.db, clock: t.clock }, user.id);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, session, authenticator);
    const step = await signinOptions(t);
    const r = await signinWith(t, step, authenticator.authenticate(step.options));
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ redirect: '/' });
    expect(r.headers['set-cookie']).toEqual(expect.arrayContaining([expect.stringMatching(/^latch_session=/)]));
  });

  it('without user verification: one factor, refused for an account with two-step sign-in, amr without mfa otherwise', async () => {
    const plain = await makeUser(t);
    const unverified = new SoftAuthenticator(RP_ID, ORIGIN, { userVerified: false });
    await addPasskey(t, await signedInAs(t, plain.id), unverified);
    let step = await signinOptions(t);
    expect((await signinWith(t, step, unverified.authenticate(step.options))).statusCode).toBe(200);
    const sessions = await t.db.selectFrom('sessions').select('amr').where('user_id', '=', plain.id).execute();
    expect(sessions.map((s) => s.amr).sort()).toEqual([['hwk', 'user'], ['pwd']]);

    const withTotp = await makeUser(t);
    const { session: s2 } = await enrol({ app: t.app, db: t.db, clock: t.clock }, withTotp.id);
    const key = new SoftAuthenticator(RP_ID, ORIGIN, { userVerified: false });
    await addPasskey(t, s2, key);
    step = await signinOptions(t);
    const r = await signinWith(t, step, key.authenticate(step.options));
    expectClear400(r, /did not verify you.*two-step sign-in/);
    expect(r.headers['set-cookie'] ?? '').not.toContain('latch_session=');
    expect((await lastEvent(t, 'signin.failure'))!.details).toMatchObject({ method: 'passkey', reason: 'user_not_verified' });
  });

  it('a disabled user\'s passkey signs nobody in: a clear 400, no session, signin.failure with reason disabled', async () => {
    const user = await makeUser(t);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, await signedInAs(t, user.id), authenticator);
    await t.db.updateTable('users').set({ disabled_at: clock.now() }).where('id', '=', user.id).execute();
    const step = await signinOptions(t);
    const r = await signinWith(t, step, authenticator.authenticate(step.options));
    expectClear400(r, /cannot sign you in/);
    expect(r.headers['set-cookie'] ?? '').not.toContain('latch_session=');
    expect((await lastEvent(t, 'signin.failure'))!.details).toMatchObject({ method: 'passkey', reason: 'disabled' });
  });

  it('refuses sign-in answers that do not verify, are replayed, or come from another browser', async () => {
    const user = await makeUser(t);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, await signedInAs(t, user.id), authenticator);

    let step = await signinOptions(t);
    const good = authenticator.authenticate(step.options);
    expect((await signinWith(t, step, good)).statusCode).toBe(200);
    // The same answer again: its challenge is used up.
    expectClear400(await signinWith(t, step, good), /expired or was already used/);

    // The challenge belongs to the browser that asked: another browser's cookie finds none.
    const mine = await signinOptions(t);
    const theirs = await signinOptions(t);
    expectClear400(await signinWith(t, { cookie: theirs.cookie, verifyCsrf: theirs.verifyCsrf }, authenticator.authenticate(mine.options)), /challenge/);

    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cases: Array<[string, (o: { challenge: string }) => unknown, RegExp]> = [
      ['a signature by another key', (o) => authenticator.authenticate(o, { key: other }), /did not verify/],
      ['the wrong origin', (o) => authenticator.authenticate(o, { origin: 'https://evil.example' }), /did not verify: .*origin/i],
      ['a counter that went backwards', (o) => authenticator.authenticate(o, { counter: 1 }), /did not verify: .*counter/i],
      ['an unknown credential', () => ({ id: 'AAAA', response: {} }), /not registered here/],
      ['another account\'s user handle', (o) => ({ ...(authenticator.authenticate(o) as object), response: { ...(authenticator.authenticate(o) as { response: object }).response, userHandle: 'eA' } }), /another account/],
      ['no response fields', () => ({ id: authenticator.id }), /did not verify/],
    ];
    for (const [what, make, pattern] of cases) {
      step = await signinOptions(t);
      const r = await signinWith(t, step, make(step.options));
      expect(r.statusCode, what).toBe(400);
      expectClear400(r, pattern);
      expect(r.headers['set-cookie'] ?? '', what).not.toContain('latch_session=');
    }
  });

  it('renames and removes a passkey by plain forms (no JavaScript); another user\'s passkey is not theirs to touch', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(t, user.id);
    const authenticator = new SoftAuthenticator(RP_ID, ORIGIN);
    await addPasskey(t, session, authenticator);
    const page = (await securityPage(t, session)).html;
    expect(page).toContain('<form class="passkey-rename" method="post" action="/account/security/passkeys/rename">');
    const formPost = (who: SignedIn, url: string, values: Record<string, string>) =>
      t.app.inject({ method: 'POST', url, ...form({ _csrf: who.csrf(url), ...values }), headers: { ...form({}).headers, cookie: who.cookie } });

    const renamed = await formPost(session, '/account/security/passkeys/rename', { id: authenticator.id, name: 'Phone' });
    expect(renamed.statusCode).toBe(303);
    expect(renamed.headers.location).toBe('/account/security#passkeys');
    expect((await securityPage(t, session)).html).toContain('value="Phone"');

    const intruder = await signedInAs(t, (await makeUser(t)).id);
    expect((await formPost(intruder, '/account/security/passkeys/remove', { id: authenticator.id })).statusCode).toBe(404);
    expect((await formPost(intruder, '/account/security/passkeys/rename', { id: authenticator.id, name: 'Mine' })).statusCode).toBe(400);
    expect(await t.db.selectFrom('passkeys').select('name').where('id', '=', authenticator.id).executeTakeFirst()).toEqual({ name: 'Phone' });

    const removed = await formPost(session, '/account/security/passkeys/remove', { id: authenticator.id });
    expect(removed.statusCode).toBe(303);
    expect(await t.db.selectFrom('passkeys').select('id').where('id', '=', authenticator.id).executeTakeFirst()).toBeUndefined();
    const event = await lastEvent(t, 'passkey.remove');
    expect(event).toMatchObject({ target_user_id: user.id, outcome: 'success' });
    expect(event!.details).toMatchObject({ label: 'Phone' });

    const step = await signinOptions(t);
    expectClear400(await signinWith(t, step, authenticator.authenticate(step.options)), /not registered here/);
  });

  it('the JSON steps for adding a passkey answer 401 JSON to a signed-out browser', async () => {
    const r = await postJson(t, '/account/passkeys/options', '', { _csrf: 'x' });
    expect(r.statusCode, r.body).toBe(401);
    expect(r.json()).toEqual({ error_description: 'Sign in first' });
  });

  it('serves latch\'s own script and the WebAuthn browser bundle from this origin', async () => {
    for (const url of ['/static/passkeys.js', '/static/webauthn.js']) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/javascript/);
    }
    expect((await t.app.inject({ method: 'GET', url: '/static/webauthn.js' })).body).toContain('SimpleWebAuthnBrowser');
    expect((await t.app.inject({ method: 'GET', url: '/login' })).headers['content-security-policy']).toContain("script-src 'self'");
  });
});
