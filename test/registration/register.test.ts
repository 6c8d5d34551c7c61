import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { useTestContext, type TestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs } from '../helpers/session.js';
import { digest } from '../../src/crypto/secrets.js';
import { REGISTRATION_POLICY } from '../../src/accounts/throttle.js';

const MCP_CLIENT = {
  client_name: 'Inspector',
  redirect_uris: ['http://127.0.0.1:6274/oauth/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

/** POSTs a JSON body (or raw text) to /oauth/register from `ip`. */
function register(app: FastifyInstance, body: unknown, opts: { ip?: string; token?: string; raw?: string; type?: string } = {}) {
  return app.inject({
    method: 'POST',
    url: '/oauth/register',
    remoteAddress: opts.ip ?? '192.0.2.1',
    payload: opts.raw ?? JSON.stringify(body),
    headers: { 'content-type': opts.type ?? 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
  });
}

/** Each test its own address, so the per-address throttle is tested only where it is meant to be. */
let nextIp = 10;
const freshIp = () => `198.51.100.${nextIp++}`;

const metadataDoc = async (t: TestContext, url: string) => (await t.app.inject({ method: 'GET', url })).json();

describe('LATCH_REGISTRATION=closed (the default)', () => {
  const t = useTestContext();
  it('answers 403 access_denied and neither discovery document names a registration_endpoint', async () => {
    const r = await register(t.app, MCP_CLIENT);
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({ error: 'access_denied' });
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      expect(await metadataDoc(t, url)).not.toHaveProperty('registration_endpoint');
    }
    const n = await t.db.selectFrom('clients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(0);
  });
});

describe('LATCH_REGISTRATION=open', () => {
  const t = useTestContext({ LATCH_REGISTRATION: 'open' });

  it('is advertised as registration_endpoint in both discovery documents', async () => {
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      expect((await metadataDoc(t, url)).registration_endpoint).toBe(`${t.config.issuer}/oauth/register`);
    }
  });

  it('answers 201 with the metadata, a secret for a confidential client, and the RFC 7592 token and URI; secrets are digests at rest', async () => {
    const r = await register(
      t.app,
      {
        client_name: 'Notes',
        redirect_uris: ['https://notes.example/cb'],
        client_uri: 'https://notes.example',
        logo_uri: 'https://notes.example/logo.png',
        contacts: ['ops@notes.example'],
        scope: 'read openid',
        id_token_signed_response_alg: 'ES256',
        software_id: 'notes',
        software_version: '1.2',
        post_logout_redirect_uris: ['https://notes.example/bye'],
        unknown_field: 'ignored',
      },
      { ip: freshIp() },
    );
    expect(r.statusCode).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = r.json();
    expect(body).toMatchObject({
      client_name: 'Notes',
      redirect_uris: ['https://notes.example/cb'],
      client_uri: 'https://notes.example',
      logo_uri: 'https://notes.example/logo.png',
      contacts: ['ops@notes.example'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read',
      id_token_signed_response_alg: 'ES256',
      software_id: 'notes',
      software_version: '1.2',
      post_logout_redirect_uris: ['https://notes.example/bye'],
      client_secret_expires_at: 0,
      client_id_issued_at: Math.floor(t.clock.now().getTime() / 1000),
      registration_client_uri: `${t.config.issuer}/oauth/register/${body.client_id}`,
    });
    expect(body).not.toHaveProperty('unknown_field');
    expect(body.client_secret).toMatch(/^latch_cs_/);
    expect(body.registration_access_token).toMatch(/^latch_rat_/);
    const row = await t.db.selectFrom('clients').selectAll().where('client_id', '=', body.client_id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ owner_id: null, status: 'active', is_confidential: true, id_token_alg: 'ES256', secret_digest: digest(body.client_secret) });
    const reg = await t.db.selectFrom('client_registrations').selectAll().where('client_id', '=', row.id).executeTakeFirstOrThrow();
    expect(reg.access_token_digest).toBe(digest(body.registration_access_token));
    expect(JSON.stringify(reg)).not.toContain(body.registration_access_token);
    const audit = await t.db.selectFrom('audit_events').selectAll().where('action', '=', 'client.register').execute();
    expect(audit.map((a) => a.target_client_id)).toContain(body.client_id);
    expect(JSON.stringify(audit)).not.toContain(body.registration_access_token);
    expect(JSON.stringify(audit)).not.toContain(body.client_secret);
  });

  it('registers a public client (none) without a secret, and it must use PKCE at /oauth/authorize', async () => {
    const r = await register(t.app, MCP_CLIENT, { ip: freshIp() });
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body).not.toHaveProperty('client_secret');
    expect(body).not.toHaveProperty('client_secret_expires_at');
    expect(body.token_endpoint_auth_method).toBe('none');
    const user = await makeUser(t, { username: 'pkce-user' });
    const alice = await signedInAs(t, user.id);
    const q = new URLSearchParams({ response_type: 'code', client_id: body.client_id, redirect_uri: MCP_CLIENT.redirect_uris[0]!, scope: 'read', state: 's' });
    const a = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${q}`, headers: { cookie: alice.cookie } });
    expect(a.statusCode).toBe(302);
    const back = new URL(a.headers.location as string);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('never gives the password or implicit grant, nor a response type other than code', async () => {
    for (const body of [
      { ...MCP_CLIENT, grant_types: ['password'], token_endpoint_auth_method: 'client_secret_basic' },
      { ...MCP_CLIENT, grant_types: ['implicit'], response_types: ['token'] },
      { ...MCP_CLIENT, grant_types: ['authorization_code', 'implicit'] },
      { ...MCP_CLIENT, response_types: ['code', 'token'] },
    ]) {
      const r = await register(t.app, body, { ip: freshIp() });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().error).toBe('invalid_client_metadata');
      expect(r.json().error_description).toMatch(/password|implicit|code/);
    }
  });

  it('refuses public clients the grants that need a secret, with the same words as the console', async () => {
    const r = await register(t.app, { ...MCP_CLIENT, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, { ip: freshIp() });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'grant_types: public clients cannot use client_credentials' });
  });

  const bad: [string, unknown, string, RegExp][] = [
    ['an unknown token_endpoint_auth_method', { ...MCP_CLIENT, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata', /token_endpoint_auth_method must be one of/],
    ['an http redirect URI outside loopback', { ...MCP_CLIENT, redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri', /must use https/],
    ['a javascript: redirect URI', { ...MCP_CLIENT, redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', /javascript/],
    ['a redirect URI with a fragment', { ...MCP_CLIENT, redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri', /fragment/],
    ['no redirect URI for the code flow', { ...MCP_CLIENT, redirect_uris: [] }, 'invalid_redirect_uri', /at least one/],
    ['a huge array of redirect URIs', { ...MCP_CLIENT, redirect_uris: Array.from({ length: 3000 }, (_, i) => `https://a.b/${i}`) }, 'invalid_redirect_uri', /at most/],
    ['21 redirect URIs (the console allows 20)', { ...MCP_CLIENT, redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example/${i}`) }, 'invalid_redirect_uri', /at most 20/],
    ['a huge contacts array', { ...MCP_CLIENT, contacts: Array.from({ length: 1000 }, () => 'a@b.c') }, 'invalid_client_metadata', /contacts may list at most/],
    ['a name with a control character', { ...MCP_CLIENT, client_name: 'Evil\u0007App' }, 'invalid_client_metadata', /client_name: must not contain control characters/],
    ['a name with a line break', { ...MCP_CLIENT, client_name: 'Good App\nApproved by admin' }, 'invalid_client_metadata', /client_name/],
    ['a name too long', { ...MCP_CLIENT, client_name: 'x'.repeat(101) }, 'invalid_client_metadata', /client_name: must be 1-100/],
    ['redirect_uris not an array', { ...MCP_CLIENT, redirect_uris: 'https://a.example/cb' }, 'invalid_client_metadata', /array of strings/],
    ['numbers where strings belong', { ...MCP_CLIENT, client_name: 42 }, 'invalid_client_metadata', /client_name must be a string/],
    ['an unknown scope', { ...MCP_CLIENT, scope: 'admin' }, 'invalid_client_metadata', /scope: unknown scope admin/],
    ['an unknown grant type', { ...MCP_CLIENT, grant_types: ['authorization_code', 'urn:x'] }, 'invalid_client_metadata', /grant_types: unknown grant type/],
    ['an unknown ID token algorithm', { ...MCP_CLIENT, id_token_signed_response_alg: 'none' }, 'invalid_client_metadata', /id_token_signed_response_alg/],
    ['a javascript: client_uri', { ...MCP_CLIENT, client_uri: 'javascript:alert(1)' }, 'invalid_client_metadata', /client_uri/],
    ['a data: logo_uri', { ...MCP_CLIENT, logo_uri: 'data:image/png;base64,AAAA' }, 'invalid_client_metadata', /logo_uri/],
    ['a post-logout URI with a fragment', { ...MCP_CLIENT, post_logout_redirect_uris: ['https://a.example/#x'] }, 'invalid_client_metadata', /post_logout_redirect_uris: .*fragment/],
    ['a JSON array body', [MCP_CLIENT], 'invalid_client_metadata', /JSON object/],
  ];
  for (const [what, body, error, description] of bad) {
    it(`refuses ${what} with 400 ${error} and a description; nothing is stored`, async () => {
      const before = await t.db.selectFrom('clients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      const r = await register(t.app, body, { ip: freshIp() });
      expect(r.statusCode).toBe(400);
      expect(r.json().error).toBe(error);
      expect(r.json().error_description).toMatch(description);
      const after = await t.db.selectFrom('clients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });
  }

  it('refuses non-JSON bodies with invalid_client_metadata: broken JSON, repeated members, a form, no body', async () => {
    const cases = [
      { raw: '{"client_name": "x", ', type: 'application/json', status: 400 },
      { raw: '{"redirect_uris":["https://a.example/cb"],"redirect_uris":["javascript:x"]}', type: 'application/json', status: 400 },
      { raw: 'client_name=x&redirect_uris=https://a.example/cb', type: 'application/x-www-form-urlencoded', status: 415 },
      { raw: 'hello', type: 'text/plain', status: 415 },
      // Past the body limit (64 KiB): refused before it is parsed.
      { raw: JSON.stringify({ ...MCP_CLIENT, contacts: Array.from({ length: 20000 }, () => 'a@b.example') }), type: 'application/json', status: 413 },
    ];
    for (const c of cases) {
      const r = await register(t.app, undefined, { ip: freshIp(), raw: c.raw, type: c.type });
      expect(r.statusCode, c.raw).toBe(c.status);
      expect(r.json().error, c.raw).toBe('invalid_client_metadata');
      expect(r.json().error_description.length).toBeGreaterThan(10);
    }
  });

  it('shows registered clients with no owner, marked as registered, in /admin/apps and bin/latch client list/show', async () => {
    const body = (await register(t.app, { ...MCP_CLIENT, client_name: 'Marked' }, { ip: freshIp() })).json();
    const admin = await makeUser(t, { username: 'root', isAdmin: true });
    const page = await t.app.inject({ method: 'GET', url: '/admin/apps', headers: { cookie: (await signedInAs(t, admin.id)).cookie } });
    expect(page.statusCode).toBe(200);
    const item = page.body.slice(page.body.indexOf(`id="app-${body.client_id}"`));
    expect(item.slice(0, item.indexOf('</li>'))).toContain('registered itself (RFC 7591), no owner');
    const opts = { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) };
    const list = await cli(['client', 'list', '--json'], opts);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.clients.find((c: { client_id: string }) => c.client_id === body.client_id)).toMatchObject({ owner: null, registered: true });
    expect(list.json.clients.every((c: { client_id: string; registered: boolean }) => c.registered === true)).toBe(true);
    const show = await cli(['client', 'show', body.client_id], opts);
    expect(show.stdout).toContain('owner:          - (registered itself)');
    const human = await cli(['client', 'list'], opts);
    expect(human.stdout).toMatch(new RegExp(`${body.client_id}.*\\(registered\\).*Marked`));
  });
});

describe('RFC 7592: read, replace and delete with the registration access token', () => {
  const t = useTestContext({ LATCH_REGISTRATION: 'open' });
  const at = (clientId: string, method: 'GET' | 'PUT' | 'DELETE', token: string | null, body?: unknown) =>
    t.app.inject({
      method,
      url: `/oauth/register/${clientId}`,
      ...(body !== undefined ? { payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } } : { headers: token ? { authorization: `Bearer ${token}` } : {} }),
    });

  it('GET reads it back (never the secret); a wrong or missing token, or another client\'s, is 401 invalid_token', async () => {
    const a = (await register(t.app, { ...MCP_CLIENT, token_endpoint_auth_method: 'client_secret_post' }, { ip: freshIp() })).json();
    const b = (await register(t.app, MCP_CLIENT, { ip: freshIp() })).json();
    const r = await at(a.client_id, 'GET', a.registration_access_token);
    expect(r.statusCode).toBe(200);
    const { client_secret: _s, ...expected } = a;
    expect(r.json()).toEqual(expected);
    for (const token of ['latch_rat_wrong', b.registration_access_token]) {
      const w = await at(a.client_id, 'GET', token);
      expect(w.statusCode).toBe(401);
      expect(w.json().error).toBe('invalid_token');
      expect(w.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
    }
    expect((await at(a.client_id, 'GET', null)).statusCode).toBe(401);
  });

  it('PUT replaces the metadata with the same rules, keeps the type, and rotates the registration access token', async () => {
    const a = (await register(t.app, MCP_CLIENT, { ip: freshIp() })).json();
    const bad = await at(a.client_id, 'PUT', a.registration_access_token, { ...MCP_CLIENT, client_id: a.client_id, redirect_uris: ['javascript:x'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('invalid_redirect_uri');
    const typeChange = await at(a.client_id, 'PUT', a.registration_access_token, { ...MCP_CLIENT, client_id: a.client_id, token_endpoint_auth_method: 'client_secret_basic' });
    expect(typeChange.json()).toMatchObject({ error: 'invalid_client_metadata' });
    const otherId = await at(a.client_id, 'PUT', a.registration_access_token, { ...MCP_CLIENT, client_id: 'someone-else' });
    expect(otherId.json()).toMatchObject({ error: 'invalid_client_metadata' });
    const password = await at(a.client_id, 'PUT', a.registration_access_token, { ...MCP_CLIENT, client_id: a.client_id, grant_types: ['authorization_code', 'password'] });
    expect(password.json()).toMatchObject({ error: 'invalid_client_metadata' });

    const ok = await at(a.client_id, 'PUT', a.registration_access_token, { ...MCP_CLIENT, client_id: a.client_id, client_name: 'Inspector 2', redirect_uris: ['http://localhost:9000/cb'] });
    expect(ok.statusCode).toBe(200);
    const after = ok.json();
    expect(after).toMatchObject({ client_id: a.client_id, client_name: 'Inspector 2', redirect_uris: ['http://localhost:9000/cb'] });
    expect(after.registration_access_token).toMatch(/^latch_rat_/);
    expect(after.registration_access_token).not.toBe(a.registration_access_token);
    expect((await at(a.client_id, 'GET', a.registration_access_token)).statusCode).toBe(401);
    expect((await at(a.client_id, 'GET', after.registration_access_token)).json().client_name).toBe('Inspector 2');
    const audit = await t.db.selectFrom('audit_events').selectAll().where('action', '=', 'client.update').where('target_client_id', '=', a.client_id).execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_kind: 'client', actor_id: a.client_id });
  });

  it('DELETE removes the client (204); its token then reads nothing', async () => {
    const a = (await register(t.app, MCP_CLIENT, { ip: freshIp() })).json();
    const r = await at(a.client_id, 'DELETE', a.registration_access_token);
    expect(r.statusCode).toBe(204);
    expect(await t.db.selectFrom('clients').selectAll().where('client_id', '=', a.client_id).executeTakeFirst()).toBeUndefined();
    expect(await t.db.selectFrom('client_registrations').selectAll().execute()).not.toContainEqual(expect.objectContaining({ access_token_digest: digest(a.registration_access_token) }));
    expect((await at(a.client_id, 'GET', a.registration_access_token)).statusCode).toBe(401);
    expect((await t.db.selectFrom('audit_events').selectAll().where('action', '=', 'client.delete').where('target_client_id', '=', a.client_id).execute())).toHaveLength(1);
  });
});

describe('LATCH_REGISTRATION=token: initial access tokens', () => {
  const t = useTestContext({ LATCH_REGISTRATION: 'token' });
  const clock = withClock(t);
  const opts = () => ({ clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });

  it('bin/latch registration-token create --json prints {"token","uses","expires_at"}; only the digest is stored', async () => {
    const r = await cli(['registration-token', 'create', '--uses', '3', '--ttl', '600', '--json'], opts());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^latch: database: /);
    expect(Object.keys(r.json).sort()).toEqual(['expires_at', 'token', 'uses']);
    expect(r.json).toMatchObject({ uses: 3, expires_at: Math.floor(clock.now().getTime() / 1000) + 600 });
    const row = await t.db.selectFrom('registration_tokens').selectAll().where('token_digest', '=', digest(r.json.token)).executeTakeFirstOrThrow();
    expect(row.uses_left).toBe(3);
    const rows = await sql<{ t: string }>`select row_to_json(r)::text as t from registration_tokens r`.execute(t.db);
    expect(rows.rows.map((x) => x.t).join()).not.toContain(r.json.token);
    const audit = await t.db.selectFrom('audit_events').selectAll().where('action', '=', 'registration.token_create').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_kind).toBe('operator');
    expect(JSON.stringify(audit)).not.toContain(r.json.token);
    const bad = await cli(['registration-token', 'create', '--uses', '0'], opts());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/uses: must be a whole number/);
  });

  it('needs the token; each registration spends one use; a refused registration spends none', async () => {
    const { json } = await cli(['registration-token', 'create', '--uses', '2', '--json'], opts());
    const none = await register(t.app, MCP_CLIENT, { ip: freshIp() });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await register(t.app, MCP_CLIENT, { ip: freshIp(), token: 'latch_iat_nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('invalid_token');
    const refused = await register(t.app, { ...MCP_CLIENT, redirect_uris: ['http://evil.example/cb'] }, { ip: freshIp(), token: json.token });
    expect(refused.json().error).toBe('invalid_redirect_uri');
    expect((await register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token })).statusCode).toBe(201);
    expect((await register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token })).statusCode).toBe(201);
    const spent = await register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token });
    expect(spent.statusCode).toBe(401);
    expect(spent.json().error_description).toMatch(/used up or expired/);
  });

  it('concurrent registrations cannot share the last use', async () => {
    const { json } = await cli(['registration-token', 'create', '--uses', '1', '--json'], opts());
    const results = await Promise.all(Array.from({ length: 5 }, () => register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 401, 401, 401, 401]);
  });

  it('expires after --ttl (the clock moves; nothing sleeps)', async () => {
    const { json } = await cli(['registration-token', 'create', '--uses', '5', '--ttl', '60', '--json'], opts());
    clock.advance(59);
    expect((await register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token })).statusCode).toBe(201);
    clock.advance(1);
    const late = await register(t.app, MCP_CLIENT, { ip: freshIp(), token: json.token });
    expect(late.statusCode).toBe(401);
    expect(late.json().error).toBe('invalid_token');
  });
});

describe('throttling and bounds', () => {
  const t = useTestContext({ LATCH_REGISTRATION: 'open' });
  const clock = withClock(t);

  it(`lets ${REGISTRATION_POLICY.freeAttempts} registrations an hour through from one address, then 429 with Retry-After; others still register; the hour passes`, async () => {
    const ip = '203.0.113.7';
    for (let i = 0; i < REGISTRATION_POLICY.freeAttempts; i++) {
      // Refused ones count too: a flood of bad requests is a flood.
      const r = await register(t.app, i % 2 ? MCP_CLIENT : { bad: true }, { ip });
      expect(r.statusCode).not.toBe(429);
    }
    const r = await register(t.app, MCP_CLIENT, { ip });
    expect(r.statusCode).toBe(429);
    expect(r.json().error).toBe('rate_limited');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(REGISTRATION_POLICY.blockSeconds);
    expect((await register(t.app, MCP_CLIENT, { ip: '203.0.113.8' })).statusCode).toBe(201);
    clock.advance(REGISTRATION_POLICY.blockSeconds);
    expect((await register(t.app, MCP_CLIENT, { ip })).statusCode).toBe(201);
  });

  it('counts an IPv6 client by its /64, so it cannot escape by changing address', async () => {
    for (let i = 0; i < REGISTRATION_POLICY.freeAttempts; i++) await register(t.app, { bad: true }, { ip: `2001:db8:1:2::${i + 1}` });
    expect((await register(t.app, MCP_CLIENT, { ip: '2001:db8:1:2::ffff' })).statusCode).toBe(429);
  });
});

describe('LATCH_APP_APPROVAL=manual', () => {
  const t = useTestContext({ LATCH_REGISTRATION: 'open', LATCH_APP_APPROVAL: 'manual' });

  it('a registered client is pending: it cannot start a sign-in until approved; a widening update after approval sends it back', async () => {
    const a = (await register(t.app, MCP_CLIENT, { ip: freshIp() })).json();
    const row = () => t.db.selectFrom('clients').selectAll().where('client_id', '=', a.client_id).executeTakeFirstOrThrow();
    expect((await row()).status).toBe('pending');
    const q = new URLSearchParams({ response_type: 'code', client_id: a.client_id, redirect_uri: MCP_CLIENT.redirect_uris[0]!, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const blocked = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${q}` });
    expect(blocked.statusCode).toBe(400);
    const opts = { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) };
    expect((await cli(['client', 'approve', a.client_id], opts)).code).toBe(0);
    expect((await row()).status).toBe('active');
    const put = await t.app.inject({
      method: 'PUT',
      url: `/oauth/register/${a.client_id}`,
      payload: JSON.stringify({ ...MCP_CLIENT, client_id: a.client_id, redirect_uris: [...MCP_CLIENT.redirect_uris, 'https://new.example/cb'] }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${a.registration_access_token}` },
    });
    expect(put.statusCode).toBe(200);
    expect((await row()).status).toBe('pending');
  });
});
