import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { digest } from '../../src/crypto/secrets.js';
import { loggerOptions } from '../../src/logger.js';
import { saveConsent } from '../../src/store/consents.js';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { clientPost, encode, pageGet, pagePost, type FormValues } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

const t = useTestContext();
/** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
const clock = withClock(t);
let owner: Awaited<ReturnType<typeof makeUser>>;
let other: Awaited<ReturnType<typeof makeUser>>;
let admin: Awaited<ReturnType<typeof makeUser>>;
let asOwner: SignedIn;
let asOther: SignedIn;
let asAdmin: SignedIn;

/** Sessions last hours; tests that move the clock by days sign everyone in again. */
async function signInAgain() {
  asOwner = await signedInAs(t, owner.id);
  asOther = await signedInAs(t, other.id);
  asAdmin = await signedInAs(t, admin.id);
}

beforeAll(async () => {
  owner = await makeUser(t, { username: 'dev-owner' });
  other = await makeUser(t, { username: 'dev-other' });
  admin = await makeUser(t, { username: 'the-admin', isAdmin: true });
  await signInAgain();
});

/** Registers an app through the console as `who` and returns what the credentials page showed. */
async function register(who: SignedIn, overrides = {}) {
  const r = await pagePost(t, who, '/apps', validApp(overrides));
  expect(r.statusCode).toBe(201);
  return { clientId: byId(r.body, 'client-id')!, secret: byId(r.body, 'client-secret') ?? null, html: r.body };
}

const clientCredentials = (clientId: string, secret: string) =>
  t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    payload: 'grant_type=client_credentials&scope=read',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
  });

const userinfo = (token: string) => t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${token}` } });

const row = (clientId: string) => t.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();

describe('signed out', () => {
  it('every console page sends the browser to the login page and back', async () => {
    for (const url of ['/apps', '/apps/new', '/apps/0123456789abcdef0123456789abcdef', '/apps/0123456789abcdef0123456789abcdef/edit']) {
      const r = await pageGet(t, null, url);
      expect(r.statusCode, url).toBe(303);
      expect(r.headers.location).toBe(`/login?return_to=${encodeURIComponent(url)}`);
    }
  });

  it('a POST registers nothing and is sent to the login page', async () => {
    const before = (await t.db.selectFrom('clients').select('id').execute()).length;
    const r = await t.app.inject({ method: 'POST', url: '/apps', payload: encode(validApp()), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toMatch(/^\/login\?return_to=/);
    expect((await t.db.selectFrom('clients').select('id').execute()).length).toBe(before);
  });
});

describe('registering an app', () => {
  it('shows the client_id and the secret once, stores only its digest, and the secret works at the token endpoint', async () => {
    const { clientId, secret, html } = await register(asOwner, { name: 'Backup bot', grant_types: ['client_credentials'], redirect_uris: '' });
    expect(clientId).toMatch(/^[0-9a-f]{32}$/);
    expect(secret).toMatch(/^latch_cs_[A-Za-z0-9_-]{43}$/);
    expect(byId(html, 'shown-once')).toContain('shown only now');
    const stored = await row(clientId);
    expect(stored).toMatchObject({ name: 'Backup bot', owner_id: owner.id, status: 'active', is_confidential: true, grant_types: ['client_credentials'] });
    expect(stored!.secret_digest).toBe(digest(secret!));
    const r = await clientCredentials(clientId, secret!);
    expect(r.statusCode).toBe(200);
    expect(r.json().access_token).toMatch(/^latch_at_/);
    // The secret is nowhere on the app's own page afterwards.
    const page = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(secret!);
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('the credentials page is never cached', async () => {
    const r = await pagePost(t, asOwner, '/apps', validApp({ name: 'Cache check' }));
    expect(r.statusCode).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('keeps every setting from the form: description, website, redirect URIs one per line, scopes, grant types, lifetimes', async () => {
    const { clientId } = await register(asOwner, {
      name: 'Full form',
      redirect_uris: 'https://full.example/cb\r\n\r\ncom.example.full:/cb\r\nurn:ietf:wg:oauth:2.0:oob',
      scopes: 'read',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      access_token_ttl: '600',
      refresh_token_ttl: '86400',
    });
    expect(await row(clientId)).toMatchObject({
      description: 'Backs up photos',
      website: 'https://photosync.example',
      redirect_uris: ['https://full.example/cb', 'com.example.full:/cb', 'urn:ietf:wg:oauth:2.0:oob'],
      scopes: ['read'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      access_token_ttl: 600,
      refresh_token_ttl: 86400,
      skip_consent: false,
    });
  });

  it('a public app gets no secret and says it must use PKCE', async () => {
    const { clientId, secret, html } = await register(asOwner, { name: 'SPA', client_type: 'public' });
    expect(secret).toBeNull();
    expect(html).toContain('must use PKCE');
    expect(await row(clientId)).toMatchObject({ is_confidential: false, secret_digest: null });
  });

  it('lists my apps and only mine', async () => {
    const mine = await register(asOwner, { name: 'Mine only' });
    const theirs = await register(asOther, { name: 'Theirs only' });
    const r = await pageGet(t, asOwner, '/apps');
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain(mine.clientId);
    expect(r.body).toContain('Mine only');
    expect(r.body).not.toContain(theirs.clientId);
    expect(r.body).not.toContain('Theirs only');
  });

  it('escapes what developers type', async () => {
    const { clientId } = await register(asOwner, { name: '<script>alert(1)</script>', description: '"><img src=x onerror=alert(2)>' });
    const r = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(r.body).not.toContain('<script>alert(1)');
    expect(r.body).not.toContain('<img src=x');
    expect(r.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('refuses a POST without a valid CSRF token (403) and registers nothing', async () => {
    const count = async () => (await t.db.selectFrom('clients').select('id').where('name', '=', 'No CSRF').execute()).length;
    const missing = await pagePost(t, asOwner, '/apps', { ...validApp({ name: 'No CSRF' }), _csrf: '' });
    expect(missing.statusCode).toBe(403);
    const otherPath = await pagePost(t, asOwner, '/apps', { ...validApp({ name: 'No CSRF' }), _csrf: asOwner.csrf('/apps/new') });
    expect(otherPath.statusCode).toBe(403);
    const otherUser = await pagePost(t, asOwner, '/apps', { ...validApp({ name: 'No CSRF' }), _csrf: asOther.csrf('/apps') });
    expect(otherUser.statusCode).toBe(403);
    expect(await count()).toBe(0);
  });

  it('answers a malformed form (a field sent twice) with a 400 page, not a 500', async () => {
    const r = await pagePost(t, asOwner, '/apps', { ...validApp(), name: ['a', 'b'] });
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toContain('text/html');
    expect(byId(r.body, 'error-code')).toBe('invalid_request');
  });
});

describe('validation errors re-render the form with the error beside its field and the input kept', () => {
  const cases: Array<[string, Record<string, string | string[]>, string, RegExp]> = [
    ['an empty name', { name: '   ' }, 'name', /1-100 characters/],
    ['a name over 100 characters', { name: 'n'.repeat(101) }, 'name', /1-100 characters/],
    ['a description over 1000 characters', { description: 'd'.repeat(1001) }, 'description', /at most 1000/],
    ['a website that is not a URL', { website: 'not a url' }, 'website', /absolute URL/],
    ['a website that is not http(s)', { website: 'ftp://files.example' }, 'website', /http\(s\)/],
    ['no redirect URI for the authorization code grant', { redirect_uris: '\n  \n' }, 'redirect_uris', /at least one/],
    ['a plain http redirect URI on a public host', { redirect_uris: 'http://photosync.example/cb' }, 'redirect_uris', /must use https/],
    ['a redirect URI with a fragment', { redirect_uris: 'https://photosync.example/cb#top' }, 'redirect_uris', /fragment/],
    ['a relative redirect URI', { redirect_uris: '/callback' }, 'redirect_uris', /not an absolute URI/],
    ['a javascript: redirect URI', { redirect_uris: 'javascript:alert(1)' }, 'redirect_uris', /cannot receive a redirect/],
    ['a custom scheme that is not reverse-DNS', { redirect_uris: 'myapp:/cb' }, 'redirect_uris', /reverse-DNS/],
    ['no scope', { scopes: [] }, 'scopes', /at least one/],
    ['an unknown scope', { scopes: ['read', 'admin'] }, 'scopes', /unknown scope admin/],
    ['no grant type', { grant_types: [] }, 'grant_types', /at least one/],
    ['an unknown grant type', { grant_types: ['jwt_bearer'] }, 'grant_types', /unknown grant type jwt_bearer/],
    ['a public app with client_credentials', { client_type: 'public', grant_types: ['authorization_code', 'client_credentials'] }, 'grant_types', /public clients cannot use client_credentials/],
    // RFC 9700: only administrators may enable these; the form does not offer them to anyone else.
    ['the password grant, for a developer', { grant_types: ['authorization_code', 'password'] }, 'grant_types', /only an administrator can enable the password grant/],
    ['the implicit grant, for a developer', { grant_types: ['implicit'] }, 'grant_types', /only an administrator can enable the implicit grant/],
    ["introspecting other apps' tokens, for a developer", { may_introspect: 'yes' }, 'may_introspect', /only an administrator/],
    ['an access token lifetime that is not a number', { access_token_ttl: 'soon' }, 'access_token_ttl', /whole number of seconds/],
    ['a refresh token lifetime of zero', { refresh_token_ttl: '0' }, 'refresh_token_ttl', /whole number of seconds/],
  ];

  it.each(cases)('%s', async (_what, overrides, field, message) => {
    const name = `Invalid ${Math.random().toString(36).slice(2)}`;
    const values = validApp({ name, ...overrides });
    const r = await pagePost(t, asOwner, '/apps', values);
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'form-errors')).toContain('correct the fields');
    expect(byId(r.body, `error-${field}`)).toMatch(message);
    // What was typed is still in the form.
    if (field !== 'name') expect(r.body).toContain(`value="${name}"`);
    if (field !== 'description') expect(r.body).toContain('Backs up photos');
    // Nothing was registered.
    expect(await t.db.selectFrom('clients').select('id').where('name', '=', name).executeTakeFirst()).toBeUndefined();
  });

  it('reports several bad fields at once', async () => {
    const r = await pagePost(t, asOwner, '/apps', validApp({ name: '', website: 'nope', scopes: [] }));
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-name')).toBeDefined();
    expect(byId(r.body, 'error-website')).toBeDefined();
    expect(byId(r.body, 'error-scopes')).toBeDefined();
    expect(byId(r.body, 'error-redirect_uris')).toBeUndefined();
  });
});

describe('settings only administrators may enable (RFC 9700 grants, introspection)', () => {
  const offered = (html: string, value: string) => html.includes(`value="${value}"`);

  it('the form offers a developer neither the password nor the implicit grant nor introspection; an administrator all three', async () => {
    const mine = (await pageGet(t, asOwner, '/apps/new')).body;
    expect(offered(mine, 'password')).toBe(false);
    expect(offered(mine, 'implicit')).toBe(false);
    expect(byId(mine, 'may_introspect')).toBeUndefined();
    expect(offered(mine, 'client_credentials')).toBe(true);
    const theirs = (await pageGet(t, asAdmin, '/apps/new')).body;
    expect(offered(theirs, 'password')).toBe(true);
    expect(offered(theirs, 'implicit')).toBe(true);
    expect(mine.includes('name="may_introspect"')).toBe(false);
    expect(theirs.includes('name="may_introspect"')).toBe(true);
  });

  it('an administrator can register an app with the password grant and introspection, and the app page says so', async () => {
    const { clientId } = await register(asAdmin, { name: 'Resource server', grant_types: ['client_credentials', 'password'], may_introspect: 'yes' });
    expect(await row(clientId)).toMatchObject({ grant_types: ['client_credentials', 'password'], may_introspect: true });
    expect(byId((await pageGet(t, asAdmin, `/apps/${clientId}`)).body, 'may-introspect')).toContain("any app's tokens");
  });

  it("a developer cannot add the password grant to an app by editing it, but keeps what an administrator gave and may drop it", async () => {
    const { clientId } = await register(asOwner, { name: 'Later legacy' });
    const refused = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Later legacy', grant_types: ['authorization_code', 'password'] }));
    expect(refused.statusCode).toBe(400);
    expect(byId(refused.body, 'error-grant_types')).toMatch(/only an administrator/);
    expect((await row(clientId))!.grant_types).toEqual(['authorization_code', 'refresh_token']);

    const given = await pagePost(t, asAdmin, `/apps/${clientId}/edit`, validApp({ name: 'Later legacy', grant_types: ['authorization_code', 'password'], may_introspect: 'yes' }));
    expect(given.statusCode).toBe(303);
    // The owner's form shows the grant the app has, and saving without the (hidden) introspection box keeps it.
    expect(offered((await pageGet(t, asOwner, `/apps/${clientId}/edit`)).body, 'password')).toBe(true);
    const kept = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Later legacy', grant_types: ['authorization_code', 'password'] }));
    expect(kept.statusCode).toBe(303);
    expect(await row(clientId)).toMatchObject({ grant_types: ['authorization_code', 'password'], may_introspect: true });
    const dropped = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Later legacy', grant_types: ['authorization_code'] }));
    expect(dropped.statusCode).toBe(303);
    expect((await row(clientId))!.grant_types).toEqual(['authorization_code']);
    // An administrator's form without the box ticked takes the permission away.
    await pagePost(t, asAdmin, `/apps/${clientId}/edit`, validApp({ name: 'Later legacy', grant_types: ['authorization_code'] }));
    expect((await row(clientId))!.may_introspect).toBe(false);
  });
});

describe('who may see and change an app', () => {
  let app: { clientId: string; secret: string | null };
  beforeAll(async () => {
    app = await register(asOwner, { name: 'Guarded app', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
  });

  it('another user gets the same 404 as for an app that does not exist, on every page', async () => {
    const missing = await pageGet(t, asOther, '/apps/ffffffffffffffffffffffffffffffff');
    expect(missing.statusCode).toBe(404);
    for (const suffix of ['', '/edit', '/delete']) {
      const r = await pageGet(t, asOther, `/apps/${app.clientId}${suffix}`);
      expect(r.statusCode, suffix).toBe(404);
      expect(byId(r.body, 'error-code')).toBe('not_found');
      expect(r.body).not.toContain('Guarded app');
      expect(r.body.replaceAll(app.clientId, 'X')).toBe(missing.body.replaceAll('ffffffffffffffffffffffffffffffff', 'X'));
    }
  });

  it('another user cannot edit, rotate, delete or make tokens: 404 and nothing changes', async () => {
    const base = `/apps/${app.clientId}`;
    const before = await row(app.clientId);
    const attempts = [
      pagePost(t, asOther, `${base}/edit`, validApp({ name: 'Hijacked' })),
      pagePost(t, asOther, `${base}/secret`),
      pagePost(t, asOther, `${base}/delete`),
      pagePost(t, asOther, `${base}/tokens`, { scopes: 'read' }),
      pagePost(t, asOther, `${base}/tokens/00000000-0000-4000-8000-000000000000/revoke`),
    ];
    for (const r of await Promise.all(attempts)) {
      expect(r.statusCode).toBe(404);
      expect(byId(r.body, 'error-code')).toBe('not_found');
    }
    expect(await row(app.clientId)).toEqual(before);
    const tokens = await t.db.selectFrom('access_tokens').select('id').where('client_id', '=', before!.id).execute();
    expect(tokens).toHaveLength(0);
    // The owner's secret still works: it was not rotated.
    expect((await clientCredentials(app.clientId, app.secret!)).statusCode).toBe(200);
  });

  it('an administrator may open, edit and rotate anyone\'s app', async () => {
    const page = await pageGet(t, asAdmin, `/apps/${app.clientId}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Guarded app');
    expect(page.body).toContain('dev-owner');
    const edit = await pagePost(t, asAdmin, `/apps/${app.clientId}/edit`, validApp({ name: 'Guarded app (renamed by admin)', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] }));
    expect(edit.statusCode).toBe(303);
    expect((await row(app.clientId))!.name).toBe('Guarded app (renamed by admin)');
    // Still the owner's.
    expect((await row(app.clientId))!.owner_id).toBe(owner.id);
  });

  it('an app registered on the command line without an owner is an administrator\'s only', async () => {
    const cliApp = await makeClient(t, { name: 'Ownerless' });
    expect((await pageGet(t, asOwner, `/apps/${cliApp.client_id}`)).statusCode).toBe(404);
    expect((await pageGet(t, asAdmin, `/apps/${cliApp.client_id}`)).statusCode).toBe(200);
  });

  it('client ids that are not plausible are a 404 too, never a 500', async () => {
    for (const id of ['%00', 'x'.repeat(199) + '!', 'a%20b', '..%2f..%2fetc', "'%3B--", '%E2%80%AE']) {
      const r = await pageGet(t, asOwner, `/apps/${id}`);
      expect(r.statusCode, id).toBe(404);
      expect(byId(r.body, 'error-code')).toBe('not_found');
    }
    // Longer than any route parameter may be: refused by the router itself, still a 4xx.
    const long = await pageGet(t, asOwner, `/apps/${'x'.repeat(300)}`);
    expect(long.statusCode).toBe(414);
  });
});

describe('CSRF on every console form', () => {
  it('each POST without the token of its own form gets 403 and changes nothing', async () => {
    const { clientId, secret } = await register(asOwner, { name: 'CSRF everywhere', grant_types: ['authorization_code', 'client_credentials'] });
    const made = await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read' });
    const token = byId(made.body, 'personal-token')!;
    const { id } = await t.db.selectFrom('access_tokens').select('id').where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    const before = await row(clientId);
    const base = `/apps/${clientId}`;
    for (const url of [`${base}/edit`, `${base}/secret`, `${base}/delete`, `${base}/tokens`, `${base}/tokens/${id}/revoke`]) {
      const r = await pagePost(t, asOwner, url, { ...validApp({ name: 'Changed' }), scopes: 'read', _csrf: asOwner.csrf('/apps') });
      expect(r.statusCode, url).toBe(403);
    }
    expect(await row(clientId)).toEqual(before);
    expect((await userinfo(token)).statusCode).toBe(200);
    expect((await clientCredentials(clientId, secret!)).statusCode).toBe(200);
    expect(await t.db.selectFrom('access_tokens').select('id').where('client_id', '=', before!.id).where('kind', '=', 'personal').execute()).toHaveLength(1);
  });
});

describe('editing an app', () => {
  it('saves the change and says so', async () => {
    const { clientId } = await register(asOwner, { name: 'Before edit' });
    const form = await pageGet(t, asOwner, `/apps/${clientId}/edit`);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('value="Before edit"');
    expect(form.body).toContain('https://photosync.example/callback\nhttp://127.0.0.1:8080/cb');
    const r = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'After edit', redirect_uris: 'https://new.example/cb', scopes: 'read' }));
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/apps/${clientId}?notice=saved`);
    expect(await row(clientId)).toMatchObject({ name: 'After edit', redirect_uris: ['https://new.example/cb'], scopes: ['read'] });
    const page = await pageGet(t, asOwner, r.headers.location as string);
    expect(byId(page.body, 'notice')).toBe('Settings saved.');
    // Only the fixed notices are shown; anything else in the query is ignored.
    for (const q of ['notice=%3Cb%3Ehi', 'notice=__proto__', 'notice=constructor', 'notice=saved&notice=revoked']) {
      const other = await pageGet(t, asOwner, `/apps/${clientId}?${q}`);
      expect(other.statusCode, q).toBe(200);
      expect(byId(other.body, 'notice'), q).toBeUndefined();
    }
  });

  it('re-renders with the error and the input kept, changing nothing', async () => {
    const { clientId } = await register(asOwner, { name: 'Edit me badly' });
    const r = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Edit me badly', redirect_uris: 'http://evil.example/cb' }));
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-redirect_uris')).toMatch(/must use https/);
    expect(r.body).toContain('http://evil.example/cb');
    expect((await row(clientId))!.redirect_uris).toEqual(['https://photosync.example/callback', 'http://127.0.0.1:8080/cb']);
  });

  it('cannot turn a confidential app public (or back): the type is fixed', async () => {
    const { clientId } = await register(asOwner, { name: 'Fixed type' });
    const r = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Fixed type', client_type: 'public' }));
    expect(r.statusCode).toBe(303);
    expect((await row(clientId))!.is_confidential).toBe(true);
  });
});

describe('rotating the secret', () => {
  it('shows a new secret once; the old one stops working at once and the new one works', async () => {
    const { clientId, secret: old } = await register(asOwner, { name: 'Rotator', grant_types: ['client_credentials'], redirect_uris: '' });
    const r = await pagePost(t, asOwner, `/apps/${clientId}/secret`);
    expect(r.statusCode).toBe(200);
    const fresh = byId(r.body, 'client-secret')!;
    expect(fresh).toMatch(/^latch_cs_/);
    expect(fresh).not.toBe(old);
    expect(byId(r.body, 'shown-once')).toContain('The old secret has stopped working');
    expect(r.headers['cache-control']).toBe('no-store');
    const refused = await clientCredentials(clientId, old!);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toBe('invalid_client');
    expect((await clientCredentials(clientId, fresh)).statusCode).toBe(200);
    expect((await row(clientId))!.secret_digest).toBe(digest(fresh));
  });

  it('a public app has no secret to rotate: 400, not a 500', async () => {
    const { clientId } = await register(asOwner, { name: 'Public rotate', client_type: 'public' });
    const r = await pagePost(t, asOwner, `/apps/${clientId}/secret`);
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-code')).toBe('invalid_request');
  });
});

describe('test tokens', () => {
  let app: { clientId: string };
  beforeAll(async () => {
    app = await register(asOwner, { name: 'Token app' });
  });

  const create = (who: SignedIn, values: Record<string, string | string[]>) => pagePost(t, who, `/apps/${app.clientId}/tokens`, values);

  it('creates a latch_pat_ token bound to me and the app, shown once, that never expires by default', async () => {
    const r = await create(asOwner, { scopes: 'read', label: 'my laptop', ttl: '' });
    expect(r.statusCode).toBe(201);
    const token = byId(r.body, 'personal-token')!;
    expect(token).toMatch(/^latch_pat_[A-Za-z0-9_-]{43}$/);
    expect(byId(r.body, 'shown-once')).toContain('shown only now');
    const me = await userinfo(token);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ sub: owner.id, username: 'dev-owner' });
    const stored = await t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ kind: 'personal', user_id: owner.id, scope: 'read', label: 'my laptop', expires_at: null });
    clock.advance(5 * 365 * 24 * 3600);
    expect((await userinfo(token)).statusCode).toBe(200);
    await signInAgain();
    // Listed on the app page, without the token itself.
    const page = await pageGet(t, asOwner, `/apps/${app.clientId}`);
    expect(page.body).toContain('my laptop');
    expect(page.body).toContain(stored.id);
    expect(page.body).not.toContain(token);
  });

  it('with a lifetime, expires when it says', async () => {
    const r = await create(asOwner, { scopes: ['read', 'write'], ttl: '3600' });
    expect(r.statusCode).toBe(201);
    const token = byId(r.body, 'personal-token')!;
    expect((await userinfo(token)).statusCode).toBe(200);
    clock.advance(3601);
    const expired = await userinfo(token);
    expect(expired.statusCode).toBe(401);
    expect(expired.headers['www-authenticate']).toContain('The access token expired');
    await signInAgain();
  });

  it('refuses a scope the app may not request, and a bad lifetime, beside the field', async () => {
    const scope = await create(asOwner, { scopes: 'admin' });
    expect(scope.statusCode).toBe(400);
    expect(byId(scope.body, 'error-scope')).toMatch(/among the app's scopes/);
    const ttl = await create(asOwner, { scopes: 'read', ttl: 'forever' });
    expect(ttl.statusCode).toBe(400);
    expect(byId(ttl.body, 'error-ttl')).toMatch(/whole number of seconds/);
  });

  it('revoking one ends it at once; a second revoke, a malformed id or someone else\'s token is a 404', async () => {
    const made = await create(asOwner, { scopes: 'read', label: 'to revoke' });
    const token = byId(made.body, 'personal-token')!;
    const { id } = await t.db.selectFrom('access_tokens').select('id').where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    const url = `/apps/${app.clientId}/tokens/${id}/revoke`;
    const r = await pagePost(t, asOwner, url);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/apps/${app.clientId}?notice=revoked`);
    const refused = await userinfo(token);
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('revoked');
    expect((await pagePost(t, asOwner, url)).statusCode).toBe(404);
    const bad = await pagePost(t, asOwner, `/apps/${app.clientId}/tokens/not-a-uuid/revoke`);
    expect(bad.statusCode).toBe(404);
    expect(byId(bad.body, 'error-code')).toBe('not_found');
    // A token of another app, by id, through this app's URL.
    const elsewhere = await register(asOwner, { name: 'Elsewhere' });
    const theirs = await pagePost(t, asOwner, `/apps/${elsewhere.clientId}/tokens`, { scopes: 'read' });
    const theirToken = byId(theirs.body, 'personal-token')!;
    const theirId = (await t.db.selectFrom('access_tokens').select('id').where('token_digest', '=', digest(theirToken)).executeTakeFirstOrThrow()).id;
    expect((await pagePost(t, asOwner, `/apps/${app.clientId}/tokens/${theirId}/revoke`)).statusCode).toBe(404);
    expect((await userinfo(theirToken)).statusCode).toBe(200);
  });

  it('an administrator sees everyone\'s test tokens on an app and may revoke them', async () => {
    const made = await create(asOwner, { scopes: 'read', label: 'owner token for admin' });
    const token = byId(made.body, 'personal-token')!;
    const { id } = await t.db.selectFrom('access_tokens').select('id').where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    const page = await pageGet(t, asAdmin, `/apps/${app.clientId}`);
    expect(page.body).toContain('owner token for admin');
    expect((await pagePost(t, asAdmin, `/apps/${app.clientId}/tokens/${id}/revoke`)).statusCode).toBe(303);
    expect((await userinfo(token)).statusCode).toBe(401);
  });
});

describe('authorized users', () => {
  it('the app page says how many people authorized the app', async () => {
    const { clientId } = await register(asOwner, { name: 'Popular' });
    const uuid = (await row(clientId))!.id;
    expect(byId((await pageGet(t, asOwner, `/apps/${clientId}`)).body, 'authorized-users')).toBe('0');
    await saveConsent(t.db, other.id, uuid, 'read', t.clock.now());
    await saveConsent(t.db, admin.id, uuid, 'read write', t.clock.now());
    expect(byId((await pageGet(t, asOwner, `/apps/${clientId}`)).body, 'authorized-users')).toBe('2');
  });

  it('counts a user who gave the app their password (a live grant, no consent) once, and no longer once it is revoked', async () => {
    // Only an administrator may enable the password grant; the app is still the owner's.
    const { clientId, secret } = await register(asAdmin, { name: 'Password app', grant_types: ['password', 'refresh_token'], redirect_uris: '' });
    const fan = await makeUser(t, { username: 'password-fan' });
    const grant = () =>
      clientPost(t.app, '/oauth/token', { grant_type: 'password', username: fan.username, password: fan.password, scope: 'read' }, { id: clientId, secret: secret! });
    const first = await grant();
    expect(first.statusCode).toBe(200);
    expect((await grant()).statusCode).toBe(200);
    expect(byId((await pageGet(t, asAdmin, `/apps/${clientId}`)).body, 'authorized-users')).toBe('1');
    const uuid = (await row(clientId))!.id;
    await t.db.updateTable('grants').set({ revoked_at: t.clock.now() }).where('client_id', '=', uuid).execute();
    expect(byId((await pageGet(t, asAdmin, `/apps/${clientId}`)).body, 'authorized-users')).toBe('0');
  });
});

describe('deleting an app', () => {
  it('asks first, then deletes the app and ends every token it had', async () => {
    const { clientId, secret } = await register(asOwner, { name: 'Doomed', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
    const uuid = (await row(clientId))!.id;
    const appToken = (await clientCredentials(clientId, secret!)).json().access_token as string;
    const pat = byId((await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read' })).body, 'personal-token')!;
    expect((await userinfo(pat)).statusCode).toBe(200);
    await saveConsent(t.db, other.id, uuid, 'read', t.clock.now());

    const confirm = await pageGet(t, asOwner, `/apps/${clientId}/delete`);
    expect(confirm.statusCode).toBe(200);
    expect(confirm.body).toContain('id="delete-form"');
    expect(confirm.body).toContain('Every token it holds stops working');
    // Looking at the confirmation deleted nothing.
    expect(await row(clientId)).toBeDefined();

    const r = await pagePost(t, asOwner, `/apps/${clientId}/delete`);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/apps');
    expect(await row(clientId)).toBeUndefined();
    expect((await userinfo(pat)).statusCode).toBe(401);
    const introspectionGone = await t.db.selectFrom('access_tokens').select('id').where('client_id', '=', uuid).execute();
    expect(introspectionGone).toHaveLength(0);
    expect(await t.db.selectFrom('consents').select('user_id').where('client_id', '=', uuid).execute()).toHaveLength(0);
    expect(appToken).toMatch(/^latch_at_/);
    expect((await t.db.selectFrom('access_tokens').select('id').where('token_digest', '=', digest(appToken)).execute())).toHaveLength(0);
    expect((await clientCredentials(clientId, secret!)).statusCode).toBe(401);
    expect((await pageGet(t, asOwner, `/apps/${clientId}`)).statusCode).toBe(404);
  });

  it('needs the CSRF token of the delete form', async () => {
    const { clientId } = await register(asOwner, { name: 'Not doomed' });
    const r = await pagePost(t, asOwner, `/apps/${clientId}/delete`, { _csrf: asOwner.csrf(`/apps/${clientId}/secret`) });
    expect(r.statusCode).toBe(403);
    expect(await row(clientId)).toBeDefined();
  });
});

describe('sign-up when LATCH_SIGNUP is closed (the default)', () => {
  it('the home and login pages do not offer it', async () => {
    expect((await pageGet(t, null, '/')).body).not.toContain('/signup');
    expect((await pageGet(t, null, '/login')).body).not.toContain('/signup');
  });

  it('/signup does not exist', async () => {
    expect((await pageGet(t, null, '/signup')).statusCode).toBe(404);
    const r = await t.app.inject({ method: 'POST', url: '/signup', payload: 'username=x&password=y', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.statusCode).toBe(404);
    expect(await t.db.selectFrom('users').select('id').where('username', '=', 'x').executeTakeFirst()).toBeUndefined();
  });
});

describe('secrets in logs', () => {
  it('registering, rotating and creating test tokens writes no secret to the log, even at trace level', async () => {
    let log = '';
    const stream = new Writable({ write: (chunk, _enc, done) => ((log += chunk), done()) });
    const logged = await buildApp(
      { config: t.config, db: t.db, clock: t.clock, cookieSecret: 'test-cookie-secret-0123456789abcdef' },
      { logger: { ...(loggerOptions('trace') as object), stream } },
    );
    await logged.ready();
    try {
      const session = await signedInAs({ ...t, app: logged }, owner.id);
      const send = (url: string, values: FormValues) =>
        logged.inject({ method: 'POST', url, payload: encode({ _csrf: session.csrf(url), ...values }), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie } });
      const created = await send('/apps', validApp({ name: 'Logged app' }));
      const clientId = byId(created.body, 'client-id')!;
      const secrets = [byId(created.body, 'client-secret')!];
      secrets.push(byId((await send(`/apps/${clientId}/secret`, {})).body, 'client-secret')!);
      secrets.push(byId((await send(`/apps/${clientId}/tokens`, { scopes: 'read' })).body, 'personal-token')!);
      expect(secrets.every((s) => s && s.length > 40)).toBe(true);
      expect(log.length).toBeGreaterThan(0);
      for (const s of secrets) expect(log).not.toContain(s);
      expect(log).not.toMatch(/latch_(cs|pat|ss)_/);
    } finally {
      await logged.close();
    }
  });
});
