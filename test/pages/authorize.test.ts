import { beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/secrets.js';
import { decideClient } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { OOB_URI } from '../../src/oauth/redirect-uris.js';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { authorizeUrl } from './helpers.js';
import { form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';
import { pkce } from '../helpers/pkce.js';

const CALLBACK = 'https://app.example/callback';
const ISSUER = 'http://127.0.0.1:3000';

describe('GET and POST /oauth/authorize', () => {
  const t = useTestContext({ LATCH_SCOPES: 'read write admin' });
  let user: Awaited<ReturnType<typeof makeUser>>;
  let session: SignedIn;

  beforeAll(async () => {
    user = await makeUser(t);
    session = await signedInAs(t, user.id);
  });

  const get = (params: Record<string, string>, cookie = session.cookie) =>
    t.app.inject({ method: 'GET', url: authorizeUrl(params), headers: { cookie } });

  /** Asserts an error page: 4xx, the code in <p id="error-code">, and no redirect. */
  function expectErrorPage(r: Awaited<ReturnType<typeof get>>, code: string) {
    expect(r.statusCode).toBeGreaterThanOrEqual(400);
    expect(r.statusCode).toBeLessThan(500);
    expect(r.headers.location).toBeUndefined();
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.body).toContain(`<p id="error-code" class="error-code">${code}</p>`);
  }

  /** The parameters of a redirect to `base`, after checking it goes there. */
  function redirectParams(r: Awaited<ReturnType<typeof get>>, base: string, status = 302): URLSearchParams {
    expect(r.statusCode).toBe(status);
    const location = String(r.headers.location);
    expect(location.startsWith(`${base}?`)).toBe(true);
    return new URL(location).searchParams;
  }

  /** Renders the consent page and submits it with `decision`, as a browser would. */
  async function decide(params: Record<string, string>, decision: 'allow' | 'deny') {
    const page = await get(params);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form id="consent-form"');
    const body: Record<string, string> = { _csrf: field(page.body, '_csrf')!, decision };
    for (const name of ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method']) {
      const v = field(page.body, name);
      if (v !== undefined) body[name] = v;
    }
    return t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form(body), headers: { ...form(body).headers, cookie: session.cookie } });
  }

  describe('errors shown as a page, never redirected', () => {
    it('a missing client_id is an invalid_request page', async () => {
      expectErrorPage(await get({ response_type: 'code', redirect_uri: CALLBACK }), 'invalid_request');
    });

    it('an unknown client_id is an invalid_client page, even with a redirect_uri', async () => {
      expectErrorPage(await get({ response_type: 'code', client_id: 'nope', redirect_uri: CALLBACK, state: 's' }), 'invalid_client');
    });

    it('an unregistered redirect_uri is a page, even when other parameters are also wrong', async () => {
      const c = await makeClient(t);
      const r = await get({ response_type: 'bogus', client_id: c.client_id, redirect_uri: 'https://evil.example/callback', state: 's' });
      expectErrorPage(r, 'invalid_request');
      expect(r.body).toContain('not one the application registered');
    });

    it('a redirect_uri differing from the registered one only in path, query, case or a trailing slash is refused', async () => {
      const c = await makeClient(t);
      for (const uri of [`${CALLBACK}/`, `${CALLBACK}?x=1`, 'https://APP.example/callback', 'https://app.example/Callback', 'https://app.example:443/callback']) {
        expectErrorPage(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: uri }), 'invalid_request');
      }
    });

    it('an omitted redirect_uri is a page when the client registered more than one', async () => {
      const c = await makeClient(t, { redirectUris: [CALLBACK, 'https://app.example/other'] });
      const r = await get({ response_type: 'code', client_id: c.client_id });
      expectErrorPage(r, 'invalid_request');
      expect(r.body).toContain('no redirect_uri');
    });

    it('a repeated client_id or redirect_uri is a page', async () => {
      const c = await makeClient(t);
      const twiceClient = `/oauth/authorize?response_type=code&client_id=${c.client_id}&client_id=${c.client_id}&redirect_uri=${encodeURIComponent(CALLBACK)}`;
      expectErrorPage(await t.app.inject({ method: 'GET', url: twiceClient, headers: { cookie: session.cookie } }), 'invalid_request');
      const twiceUri = `/oauth/authorize?response_type=code&client_id=${c.client_id}&redirect_uri=${encodeURIComponent(CALLBACK)}&redirect_uri=${encodeURIComponent(CALLBACK)}`;
      expectErrorPage(await t.app.inject({ method: 'GET', url: twiceUri, headers: { cookie: session.cookie } }), 'invalid_request');
    });

    it('a NUL character in a parameter is an invalid_request page, never a 500', async () => {
      for (const url of ['/oauth/authorize?client_id=%00', '/oauth/authorize?client_id=a&redirect_uri=x%00', '/oauth/authorize?client_id=a&state=%00']) {
        expectErrorPage(await t.app.inject({ method: 'GET', url }), 'invalid_request');
      }
      const posted = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form({ client_id: 'a\u0000' }) });
      expectErrorPage(posted, 'invalid_request');
    });

    it('escapes what it echoes on the error page', async () => {
      const r = await get({ response_type: 'code' });
      expect(r.body).not.toContain('<script');
      const c = await makeClient(t);
      const evil = await get({ client_id: c.client_id, redirect_uri: 'https://x.example/"><script>alert(1)</script>' });
      expectErrorPage(evil, 'invalid_request');
      expect(evil.body).not.toContain('<script>alert(1)</script>');
    });
  });

  describe('errors redirected to the client with error, error_description, state and iss', () => {
    it('a missing response_type is invalid_request', async () => {
      const c = await makeClient(t);
      const p = redirectParams(await get({ client_id: c.client_id, redirect_uri: CALLBACK, state: 'xyz' }), CALLBACK);
      expect(p.get('error')).toBe('invalid_request');
      expect(p.get('error_description')).toMatch(/response_type/);
      expect(p.get('state')).toBe('xyz');
      expect(p.get('iss')).toBe(ISSUER);
      expect(p.get('code')).toBeNull();
    });

    it('an unknown response_type is unsupported_response_type', async () => {
      const c = await makeClient(t);
      const p = redirectParams(await get({ response_type: 'id_token', client_id: c.client_id, redirect_uri: CALLBACK, state: 's1' }), CALLBACK);
      expect(p.get('error')).toBe('unsupported_response_type');
      expect(p.get('state')).toBe('s1');
    });

    it('response_type=token is unsupported_response_type for a client without the implicit grant', async () => {
      const c = await makeClient(t);
      const r = await get({ response_type: 'token', client_id: c.client_id, redirect_uri: CALLBACK, state: 's2' });
      expect(r.statusCode).toBe(302);
      // Implicit responses, errors included, travel in the fragment.
      const fragment = new URLSearchParams(new URL(String(r.headers.location)).hash.slice(1));
      expect(fragment.get('error')).toBe('unsupported_response_type');
      expect(fragment.get('state')).toBe('s2');
      expect(fragment.get('iss')).toBe(ISSUER);
    });

    it('response_type=code is unauthorized_client for a client allowed only the implicit grant', async () => {
      const c = await makeClient(t, { grantTypes: ['implicit'] });
      const p = redirectParams(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK }), CALLBACK);
      expect(p.get('error')).toBe('unauthorized_client');
    });

    it('a scope the server or the client does not have is invalid_scope', async () => {
      const limited = await makeClient(t, { scopes: ['read'] });
      let p = redirectParams(await get({ response_type: 'code', client_id: limited.client_id, redirect_uri: CALLBACK, scope: 'read write', state: 'a' }), CALLBACK);
      expect(p.get('error')).toBe('invalid_scope');
      expect(p.get('state')).toBe('a');
      p = redirectParams(await get({ response_type: 'code', client_id: limited.client_id, redirect_uri: CALLBACK, scope: 'nosuch' }), CALLBACK);
      expect(p.get('error')).toBe('invalid_scope');
    });

    it('a repeated parameter other than client_id and redirect_uri is invalid_request', async () => {
      const c = await makeClient(t);
      const url = `/oauth/authorize?response_type=code&client_id=${c.client_id}&redirect_uri=${encodeURIComponent(CALLBACK)}&scope=read&scope=write&state=one`;
      const p = redirectParams(await t.app.inject({ method: 'GET', url, headers: { cookie: session.cookie } }), CALLBACK);
      expect(p.get('error')).toBe('invalid_request');
      expect(p.get('error_description')).toContain('scope');
      expect(p.get('state')).toBe('one');
    });

    it('pending, suspended and denied applications get an invalid_application_status page, never a redirect', async () => {
      const t2 = { ...t, config: { ...t.config, appApproval: 'manual' as const } };
      const pending = await makeClient(t2);
      expect(pending.status).toBe('pending');
      let r = await get({ response_type: 'code', client_id: pending.client_id, redirect_uri: CALLBACK, state: 'p' });
      expectErrorPage(r, 'invalid_application_status');
      expect(r.body).toContain('waiting for approval');

      const active = await makeClient(t);
      const suspended = await decideClient(t, OPERATOR, active.client_id, 'suspend', { reason: 'abuse' });
      r = await get({ response_type: 'code', client_id: suspended.client_id, redirect_uri: CALLBACK });
      expectErrorPage(r, 'invalid_application_status');
      expect(r.body).toContain('suspended');

      const toDeny = await makeClient(t2);
      await decideClient(t, OPERATOR, toDeny.client_id, 'deny', { reason: 'incomplete' });
      r = await get({ response_type: 'code', client_id: toDeny.client_id, redirect_uri: CALLBACK });
      expectErrorPage(r, 'invalid_application_status');
      expect(r.body).toContain('not approved');
    });

    it('keeps the query a registered redirect URI already has', async () => {
      const uri = 'https://app.example/cb?tenant=7';
      const c = await makeClient(t, { redirectUris: [uri] });
      const r = await get({ client_id: c.client_id, redirect_uri: uri, state: 'q' });
      const p = redirectParams(r, 'https://app.example/cb');
      expect(p.get('tenant')).toBe('7');
      expect(p.get('error')).toBe('invalid_request');
    });
  });

  describe('PKCE', () => {
    it('a public client without a code_challenge gets invalid_request', async () => {
      const c = await makeClient(t, { confidential: false, grantTypes: ['authorization_code', 'refresh_token'] });
      const p = redirectParams(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, state: 'k' }), CALLBACK);
      expect(p.get('error')).toBe('invalid_request');
      expect(p.get('error_description')).toMatch(/PKCE/);
    });

    it('refuses the plain method, a missing method, a method without a challenge and a malformed challenge', async () => {
      const c = await makeClient(t);
      const { challenge } = pkce();
      const cases: Array<Record<string, string>> = [
        { code_challenge: challenge, code_challenge_method: 'plain' },
        { code_challenge: challenge },
        { code_challenge_method: 'S256' },
        { code_challenge: 'too-short', code_challenge_method: 'S256' },
        { code_challenge: `${challenge.slice(0, 42)}=`, code_challenge_method: 'S256' },
      ];
      for (const extra of cases) {
        const p = redirectParams(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, ...extra }), CALLBACK);
        expect(p.get('error'), JSON.stringify(extra)).toBe('invalid_request');
      }
    });

    it('stores an S256 challenge with the code, bound to client, user, redirect URI and scope', async () => {
      const c = await makeClient(t, { confidential: false, grantTypes: ['authorization_code', 'refresh_token'], skipConsent: true });
      const { challenge } = pkce();
      const r = await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, scope: 'read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' });
      const p = redirectParams(r, CALLBACK);
      const code = p.get('code')!;
      expect(code).toMatch(/^latch_ac_[A-Za-z0-9_-]{43}$/);
      expect(p.get('state')).toBe('st');
      expect(p.get('iss')).toBe(ISSUER);
      const row = await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', digest(code)).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        client_id: c.id,
        user_id: user.id,
        redirect_uri: CALLBACK,
        scope: 'read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        consumed_at: null,
      });
      expect(row.expires_at.getTime() - t.clock.now().getTime()).toBe(t.config.codeTtl * 1000);
      // Only the digest is stored.
      const clear = await t.db.selectFrom('authorization_codes').select('code_digest').where('code_digest', '=', code).execute();
      expect(clear).toHaveLength(0);
    });

    it('a confidential client may go without PKCE; its code has no challenge', async () => {
      const c = await makeClient(t, { skipConsent: true });
      const code = redirectParams(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK }), CALLBACK).get('code')!;
      const row = await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', digest(code)).executeTakeFirstOrThrow();
      expect(row.code_challenge).toBeNull();
      expect(row.code_challenge_method).toBeNull();
    });
  });

  describe('redirect URI matching', () => {
    it('an omitted redirect_uri uses the only registered one, and the code records that none was sent', async () => {
      const c = await makeClient(t, { skipConsent: true });
      const r = await get({ response_type: 'code', client_id: c.client_id });
      const code = redirectParams(r, CALLBACK).get('code')!;
      const row = await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', digest(code)).executeTakeFirstOrThrow();
      expect(row.redirect_uri).toBeNull();
    });

    it('a loopback IP redirect URI may name any port (RFC 8252 §7.3), and the response goes to that port', async () => {
      const c = await makeClient(t, { redirectUris: ['http://127.0.0.1/callback', 'http://[::1]:8080/cb'], skipConsent: true });
      let r = await get({ response_type: 'code', client_id: c.client_id, redirect_uri: 'http://127.0.0.1:51234/callback' });
      expect(redirectParams(r, 'http://127.0.0.1:51234/callback').get('code')).toMatch(/^latch_ac_/);
      r = await get({ response_type: 'code', client_id: c.client_id, redirect_uri: 'http://[::1]:9/cb' });
      expect(redirectParams(r, 'http://[::1]:9/cb').get('code')).toMatch(/^latch_ac_/);
    });

    it('the loopback exception covers the port only: path, host and scheme still match exactly', async () => {
      const c = await makeClient(t, { redirectUris: ['http://127.0.0.1:8080/callback', 'http://localhost:8080/callback'], skipConsent: true });
      for (const uri of [
        'http://127.0.0.1:9/callback/',
        'http://127.0.0.1:9/other',
        'http://127.0.0.2:8080/callback',
        'http://[::1]:8080/callback',
        'https://127.0.0.1:8080/callback',
        'http://127.0.0.1:99999/callback',
        // "localhost" can resolve elsewhere: no port freedom for it.
        'http://localhost:9/callback',
      ]) {
        expectErrorPage(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: uri }), 'invalid_request');
      }
    });
  });

  describe('sign-in and consent', () => {
    it('sends a signed-out browser to the login page with the request as return_to', async () => {
      const c = await makeClient(t);
      const params = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, scope: 'read', state: 'keep me' };
      const r = await get(params, '');
      expect(r.statusCode).toBe(302);
      const login = new URL(String(r.headers.location), 'http://x');
      expect(login.pathname).toBe('/login');
      const back = new URL(login.searchParams.get('return_to')!, 'http://x');
      expect(back.pathname).toBe('/oauth/authorize');
      expect(Object.fromEntries(back.searchParams)).toEqual(params);
    });

    it("a client's own POST works like the GET, needs no CSRF token, and redirects with 303", async () => {
      const c = await makeClient(t);
      const body = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, state: 'p' };
      const r = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form(body) });
      expect(r.statusCode).toBe(303);
      expect(String(r.headers.location)).toMatch(/^\/login\?return_to=%2Foauth%2Fauthorize%3F/);
      const err = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form({ client_id: c.client_id, redirect_uri: CALLBACK }) });
      expect(err.statusCode).toBe(303);
      expect(new URL(String(err.headers.location)).searchParams.get('error')).toBe('invalid_request');
    });

    it('shows the consent page: app name, owner, scopes described, the form hooks, no-store, no framing', async () => {
      const owner = await makeUser(t, { username: `owner${Date.now()}` });
      const c = await makeClient(t, { name: 'Photo <Printer>', ownerId: owner.id });
      const r = await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, scope: 'read write', state: 'st"ate' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
      expect(r.body).toContain('<form id="consent-form" method="post" action="/oauth/authorize"');
      expect(r.body).toContain('name="decision" value="allow"');
      expect(r.body).toContain('name="decision" value="deny"');
      expect(r.body).toContain('Photo &lt;Printer&gt;');
      expect(r.body).not.toContain('Photo <Printer>');
      expect(r.body).toContain(owner.username);
      expect(r.body).toContain('data-scope="read"');
      expect(r.body).toContain('data-scope="write"');
      expect(r.body).toContain('See your account and the data in it');
      expect(r.body).toContain('Create, change and delete data in your account');
      expect(field(r.body, 'state')).toBe('st"ate');
      expect(field(r.body, '_csrf')).toBeTruthy();
    });

    it('Allow redirects (303) with the code, state and iss, and remembers the consent', async () => {
      const c = await makeClient(t);
      const r = await decide({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, scope: 'read', state: 'allow-1' }, 'allow');
      const p = redirectParams(r, CALLBACK, 303);
      expect(p.get('code')).toMatch(/^latch_ac_/);
      expect(p.get('state')).toBe('allow-1');
      expect(p.get('iss')).toBe(ISSUER);
      const consent = await t.db.selectFrom('consents').selectAll().where('client_id', '=', c.id).where('user_id', '=', user.id).executeTakeFirst();
      expect(consent?.scope).toBe('read');
    });

    it('Deny redirects with access_denied, state and iss, issues no code and remembers nothing', async () => {
      const c = await makeClient(t);
      const r = await decide({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, state: 'no' }, 'deny');
      const p = redirectParams(r, CALLBACK, 303);
      expect(p.get('error')).toBe('access_denied');
      expect(p.get('state')).toBe('no');
      expect(p.get('iss')).toBe(ISSUER);
      expect(p.get('code')).toBeNull();
      const codes = await t.db.selectFrom('authorization_codes').select('code_digest').where('client_id', '=', c.id).execute();
      expect(codes).toHaveLength(0);
      const consents = await t.db.selectFrom('consents').select('scope').where('client_id', '=', c.id).execute();
      expect(consents).toHaveLength(0);
    });

    it('a consent POST without a valid CSRF token gets 403 and changes nothing', async () => {
      const c = await makeClient(t);
      const body = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, decision: 'allow' };
      for (const csrf of [undefined, 'forged', session.csrf('/login')]) {
        const payload = csrf ? { ...body, _csrf: csrf } : body;
        const r = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form(payload), headers: { ...form(payload).headers, cookie: session.cookie } });
        expect(r.statusCode).toBe(403);
        expect(r.headers.location).toBeUndefined();
      }
      const codes = await t.db.selectFrom('authorization_codes').select('code_digest').where('client_id', '=', c.id).execute();
      expect(codes).toHaveLength(0);
      const consents = await t.db.selectFrom('consents').select('scope').where('client_id', '=', c.id).execute();
      expect(consents).toHaveLength(0);
    });

    it('a remembered consent skips the page for the same or fewer scopes and asks again for more', async () => {
      const c = await makeClient(t);
      const base = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK };
      redirectParams(await decide({ ...base, scope: 'read write' }, 'allow'), CALLBACK, 303);
      expect(redirectParams(await get({ ...base, scope: 'read write' }), CALLBACK).get('code')).toMatch(/^latch_ac_/);
      expect(redirectParams(await get({ ...base, scope: 'write' }), CALLBACK).get('code')).toMatch(/^latch_ac_/);
      const more = await get({ ...base, scope: 'read admin' });
      expect(more.statusCode).toBe(200);
      expect(more.body).toContain('<form id="consent-form"');
      expect(more.body).toMatch(/data-scope="read">.*already allowed/);
      // Approving the larger request remembers the union.
      redirectParams(await decide({ ...base, scope: 'read admin' }, 'allow'), CALLBACK, 303);
      const consent = await t.db.selectFrom('consents').select('scope').where('client_id', '=', c.id).where('user_id', '=', user.id).executeTakeFirstOrThrow();
      expect(consent.scope.split(' ').sort()).toEqual(['admin', 'read', 'write']);
    });

    it('consent is per user: another user is asked', async () => {
      const c = await makeClient(t);
      const base = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK };
      redirectParams(await decide(base, 'allow'), CALLBACK, 303);
      const other = await signedInAs(t, (await makeUser(t)).id);
      const r = await get(base, other.cookie);
      expect(r.statusCode).toBe(200);
      expect(r.body).toContain('<form id="consent-form"');
    });

    it('a skip-consent (first-party) client gets its code at once, and the consent is still recorded', async () => {
      const c = await makeClient(t, { skipConsent: true });
      const r = await get({ response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, scope: 'read write', state: 'fp' });
      const p = redirectParams(r, CALLBACK);
      expect(p.get('code')).toMatch(/^latch_ac_/);
      expect(p.get('state')).toBe('fp');
      const consent = await t.db.selectFrom('consents').select('scope').where('client_id', '=', c.id).where('user_id', '=', user.id).executeTakeFirst();
      expect(consent?.scope).toBe('read write');
    });

    it('the request is validated again when the consent form comes back: a client suspended meanwhile gets no code', async () => {
      const c = await makeClient(t);
      const params = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, state: 'late' };
      const page = await get(params);
      await decideClient(t, OPERATOR, c.client_id, 'suspend', { reason: 'abuse' });
      const body = { ...params, _csrf: field(page.body, '_csrf')!, decision: 'allow' };
      const r = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form(body), headers: { ...form(body).headers, cookie: session.cookie } });
      expectErrorPage(r, 'invalid_application_status');
    });

    it('a decision other than allow or deny is refused with a 400 page', async () => {
      const c = await makeClient(t);
      const body = { response_type: 'code', client_id: c.client_id, redirect_uri: CALLBACK, _csrf: session.csrf('/oauth/authorize'), decision: 'maybe' };
      const r = await t.app.inject({ method: 'POST', url: '/oauth/authorize', ...form(body), headers: { ...form(body).headers, cookie: session.cookie } });
      expectErrorPage(r, 'invalid_request');
    });
  });

  describe('out of band', () => {
    it('shows the code on a no-store page instead of redirecting', async () => {
      const c = await makeClient(t, { redirectUris: [OOB_URI] });
      const r = await decide({ response_type: 'code', client_id: c.client_id, redirect_uri: OOB_URI, scope: 'read' }, 'allow');
      expect(r.statusCode).toBe(200);
      expect(r.headers.location).toBeUndefined();
      expect(r.headers['cache-control']).toBe('no-store');
      const code = /<code id="authorization-code">([^<]+)<\/code>/.exec(r.body)?.[1];
      expect(code).toMatch(/^latch_ac_/);
      expect(r.body).toMatch(/copy/i);
      expect(r.body).toContain(`within ${t.config.codeTtl} seconds`);
      const row = await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', digest(code!)).executeTakeFirstOrThrow();
      expect(row.redirect_uri).toBe(OOB_URI);
    });

    it('errors for an out-of-band request are pages too, as there is nowhere to redirect', async () => {
      const c = await makeClient(t, { redirectUris: [OOB_URI] });
      expectErrorPage(await get({ response_type: 'code', client_id: c.client_id, redirect_uri: OOB_URI, scope: 'nosuch' }), 'invalid_scope');
      const denied = await decide({ response_type: 'code', client_id: c.client_id, redirect_uri: OOB_URI }, 'deny');
      expectErrorPage(denied, 'access_denied');
    });
  });

  describe('implicit (response_type=token)', () => {
    it('puts an access token, and no refresh token, in the fragment for a client allowed the implicit grant', async () => {
      const c = await makeClient(t, { grantTypes: ['implicit'], redirectUris: ['https://spa.example/cb'] });
      const r = await decide({ response_type: 'token', client_id: c.client_id, redirect_uri: 'https://spa.example/cb', scope: 'read', state: 'imp' }, 'allow');
      expect(r.statusCode).toBe(303);
      const location = new URL(String(r.headers.location));
      expect(location.origin + location.pathname).toBe('https://spa.example/cb');
      expect(location.search).toBe('');
      const f = new URLSearchParams(location.hash.slice(1));
      expect(f.get('access_token')).toMatch(/^latch_at_/);
      expect(f.get('token_type')).toBe('Bearer');
      expect(f.get('expires_in')).toBe(String(t.config.accessTokenTtl));
      expect(f.get('scope')).toBe('read');
      expect(f.get('state')).toBe('imp');
      expect(f.get('iss')).toBe(ISSUER);
      expect(f.get('refresh_token')).toBeNull();
      const row = await t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', digest(f.get('access_token')!)).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ client_id: c.id, user_id: user.id, grant_id: null, scope: 'read', kind: 'bearer' });
      const refresh = await t.db.selectFrom('refresh_tokens').select('token_digest').where('client_id', '=', c.id).execute();
      expect(refresh).toHaveLength(0);
    });

    it('denied implicit requests get access_denied in the fragment', async () => {
      const c = await makeClient(t, { grantTypes: ['implicit'], redirectUris: ['https://spa.example/cb'] });
      const r = await decide({ response_type: 'token', client_id: c.client_id, redirect_uri: 'https://spa.example/cb', state: 'x' }, 'deny');
      const f = new URLSearchParams(new URL(String(r.headers.location)).hash.slice(1));
      expect(f.get('error')).toBe('access_denied');
      expect(f.get('state')).toBe('x');
    });
  });
});
