import { describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/secrets.js';
import { mintForNewGrant } from '../../src/oauth/mint.js';
import { saveConsent } from '../../src/store/consents.js';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs } from '../helpers/session.js';
import { authorizeUrl } from './helpers.js';
import { form } from '../helpers/forms.js';

describe('GET /account/apps and the home page', () => {
  const t = useTestContext();

  it('sends a signed-out browser to the login page and back', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/account/apps' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/login?return_to=${encodeURIComponent('/account/apps')}`);
  });

  it("lists the user's authorized apps with name, scopes and since when, escaped, and nobody else's", async () => {
    const user = await makeUser(t);
    const other = await makeUser(t);
    const mine = await makeClient(t, { name: 'Notes <b>app</b>' });
    const theirs = await makeClient(t, { name: 'Someone else app' });
    await saveConsent(t.db, user.id, mine.id, 'read write', t.clock.now());
    await saveConsent(t.db, other.id, theirs.id, 'read', t.clock.now());
    const s = await signedInAs(t, user.id);
    const r = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: s.cookie } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toContain('Notes &lt;b&gt;app&lt;/b&gt;');
    expect(r.body).not.toContain('<b>app</b>');
    expect(r.body).toContain(`data-client-id="${mine.client_id}"`);
    expect(r.body).toContain('<code>read</code>');
    expect(r.body).toContain('<code>write</code>');
    expect(r.body).toContain(`<time datetime="${t.clock.now().toISOString()}">${t.clock.now().toISOString().slice(0, 10)}</time>`);
    expect(r.body).not.toContain('Someone else app');
  });

  it('says so when there are no apps', async () => {
    const s = await signedInAs(t, (await makeUser(t)).id);
    const r = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: s.cookie } });
    expect(r.body).toContain('id="no-apps"');
  });

  it('revoking ends the access tokens, the refresh token families and the consent, so the next request asks again', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t);
    const untouched = await makeClient(t);
    await saveConsent(t.db, user.id, client.id, 'read', t.clock.now());
    await saveConsent(t.db, user.id, untouched.id, 'read', t.clock.now());
    const tokens = await mintForNewGrant(t.db, t.config, { client, userId: user.id, scope: 'read', now: t.clock.now(), withRefresh: true });
    const kept = await mintForNewGrant(t.db, t.config, { client: untouched, userId: user.id, scope: 'read', now: t.clock.now(), withRefresh: true });
    const s = await signedInAs(t, user.id);

    const body = { _csrf: s.csrf('/account/apps/revoke'), client_id: client.client_id };
    const r = await t.app.inject({ method: 'POST', url: '/account/apps/revoke', ...form(body), headers: { ...form(body).headers, cookie: s.cookie } });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/account/apps');

    const access = await t.db.selectFrom('access_tokens').select('revoked_at').where('token_digest', '=', digest(tokens.access_token)).executeTakeFirstOrThrow();
    expect(access.revoked_at).not.toBeNull();
    const refresh = await t.db.selectFrom('refresh_tokens').select('revoked_at').where('token_digest', '=', digest(tokens.refresh_token!)).executeTakeFirstOrThrow();
    expect(refresh.revoked_at).not.toBeNull();
    const grants = await t.db.selectFrom('grants').select('revoked_at').where('client_id', '=', client.id).execute();
    expect(grants.every((g) => g.revoked_at !== null)).toBe(true);
    const consent = await t.db.selectFrom('consents').select('scope').where('user_id', '=', user.id).where('client_id', '=', client.id).execute();
    expect(consent).toHaveLength(0);
    // The bearer check refuses the revoked token.
    const me = await t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.statusCode).toBe(401);

    // The other app keeps everything.
    const other = await t.db.selectFrom('access_tokens').select('revoked_at').where('token_digest', '=', digest(kept.access_token)).executeTakeFirstOrThrow();
    expect(other.revoked_at).toBeNull();
    const list = await t.app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: s.cookie } });
    expect(list.body).not.toContain(`data-client-id="${client.client_id}"`);
    expect(list.body).toContain(`data-client-id="${untouched.client_id}"`);

    const again = await t.app.inject({
      method: 'GET',
      url: authorizeUrl({ response_type: 'code', client_id: client.client_id, redirect_uri: 'https://app.example/callback', scope: 'read' }),
      headers: { cookie: s.cookie },
    });
    expect(again.statusCode).toBe(200);
    expect(again.body).toContain('<form id="consent-form"');
  });

  it('a revoke without a valid CSRF token gets 403 and changes nothing', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t);
    await saveConsent(t.db, user.id, client.id, 'read', t.clock.now());
    const tokens = await mintForNewGrant(t.db, t.config, { client, userId: user.id, scope: 'read', now: t.clock.now(), withRefresh: true });
    const s = await signedInAs(t, user.id);
    for (const csrf of [undefined, s.csrf('/logout')]) {
      const body: Record<string, string> = { client_id: client.client_id };
      if (csrf) body._csrf = csrf;
      const r = await t.app.inject({ method: 'POST', url: '/account/apps/revoke', ...form(body), headers: { ...form(body).headers, cookie: s.cookie } });
      expect(r.statusCode).toBe(403);
    }
    const access = await t.db.selectFrom('access_tokens').select('revoked_at').where('token_digest', '=', digest(tokens.access_token)).executeTakeFirstOrThrow();
    expect(access.revoked_at).toBeNull();
    expect(await t.db.selectFrom('consents').select('scope').where('client_id', '=', client.id).execute()).toHaveLength(1);
  });

  it('revoking an unknown app is a 404 page', async () => {
    const s = await signedInAs(t, (await makeUser(t)).id);
    const body = { _csrf: s.csrf('/account/apps/revoke'), client_id: 'no-such-client' };
    const r = await t.app.inject({ method: 'POST', url: '/account/apps/revoke', ...form(body), headers: { ...form(body).headers, cookie: s.cookie } });
    expect(r.statusCode).toBe(404);
    expect(r.body).toContain('<p id="error-code" class="error-code">not_found</p>');
  });

  it('the home page offers a sign-in link when signed out, and the apps page and sign-out when signed in', async () => {
    const out = await t.app.inject({ method: 'GET', url: '/' });
    expect(out.statusCode).toBe(200);
    expect(out.body).toContain('href="/login"');
    const user = await makeUser(t);
    const s = await signedInAs(t, user.id);
    const signedIn = await t.app.inject({ method: 'GET', url: '/', headers: { cookie: s.cookie } });
    expect(signedIn.body).toContain(user.username);
    expect(signedIn.body).toContain('href="/account/apps"');
    expect(signedIn.body).toContain(`name="_csrf" value="${s.csrf('/logout')}"`);
  });
});
