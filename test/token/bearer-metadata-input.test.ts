import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { requireBearer } from '../../src/web/bearer.js';
import { buildApp } from '../../src/app.js';
import { asAuth, clientPost } from '../helpers/forms.js';

let t: TestContext;
let user: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  t = await createTestContext();
  user = await makeUser(t);
  app = await makeClient(t, { grantTypes: ['password', 'refresh_token', 'client_credentials'] });
});
afterAll(() => t.close());

const login = async (scope = 'read') =>
  (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope }, asAuth(app))).json();

describe('bearer validation (RFC 6750)', () => {
  it('answers a request with no token 401 and a bare Bearer challenge', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/oauth/userinfo' });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="latch"');
  });

  it('answers an unknown token 401 invalid_token', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Bearer latch_at_nope' } });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="latch", error="invalid_token", error_description="The access token is invalid"');
    expect(r.json().error).toBe('invalid_token');
  });

  it('says "The access token expired" once the clock passes its lifetime', async () => {
    const tokens = await login();
    t.clock.advance(7199);
    expect((await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode).toBe(200);
    t.clock.advance(1);
    const r = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="latch", error="invalid_token", error_description="The access token expired"');
  });

  it('answers a token without the needed scope 403 insufficient_scope on a route that declares it', async () => {
    const scoped = await buildApp(
      { config: t.config, db: t.db, clock: t.clock, cookieSecret: 'x'.repeat(32) },
      { logger: false },
    );
    scoped.get('/api/notes', { preHandler: requireBearer('write') }, async (request) => ({ user: request.bearer!.username }));
    const readOnly = await login('read');
    const denied = await scoped.inject({ method: 'GET', url: '/api/notes', headers: { authorization: `Bearer ${readOnly.access_token}` } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toBe('insufficient_scope');
    expect(denied.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(denied.headers['www-authenticate']).toContain('scope="write"');
    const writer = await login('read write');
    const ok = await scoped.inject({ method: 'GET', url: '/api/notes', headers: { authorization: `Bearer ${writer.access_token}` } });
    expect(ok.json()).toEqual({ user: user.username });
    await scoped.close();
  });

  it('answers a malformed Authorization header 400 invalid_request', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Bearer two words' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid_request');
  });
});

describe('GET /.well-known/oauth-authorization-server (RFC 8414)', () => {
  it('lists every endpoint and capability', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    const m = r.json();
    const issuer = t.config.issuer;
    expect(m).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      scopes_supported: ['read', 'write'],
      response_types_supported: ['code', 'token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(m.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'password', 'client_credentials']));
  });
});

describe('malformed input at the token endpoint', () => {
  const raw = (payload: string, contentType: string) =>
    t.app.inject({ method: 'POST', url: '/oauth/token', payload, headers: { 'content-type': contentType } });

  it.each([
    ['a repeated parameter', 'grant_type=password&grant_type=client_credentials', 'application/x-www-form-urlencoded', 400],
    ['broken JSON', '{"grant_type":', 'application/json', 400],
    ['a JSON array', '["grant_type"]', 'application/json', 400],
    ['a JSON object value', '{"grant_type":{"a":1}}', 'application/json', 400],
    ['a plain-text body', 'grant_type=password', 'text/plain', 415],
    ['an XML body', '<grant_type/>', 'application/xml', 415],
    ['an oversized body', 'x='.padEnd(70_000, 'a'), 'application/x-www-form-urlencoded', 413],
  ])('answers %s with RFC-shaped invalid_request', async (_name, payload, type, status) => {
    const r = await raw(payload, type);
    expect(r.statusCode).toBe(status);
    expect(r.headers['content-type']).toContain('application/json');
    expect(Object.keys(r.json()).sort()).toEqual(['error', 'error_description']);
    expect(r.json().error).toBe('invalid_request');
    expect(r.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});

describe('storage', () => {
  it('keeps no raw token, code or secret in any table', async () => {
    const tokens = await login('read write');
    const cc = (await clientPost(t.app, '/oauth/token', { grant_type: 'client_credentials' }, asAuth(app))).json();
    const dump = JSON.stringify(
      await Promise.all(
        ['access_tokens', 'refresh_tokens', 'clients', 'grants', 'authorization_codes'].map((table) => sql`select * from ${sql.table(table)}`.execute(t.db)),
      ),
    );
    for (const secret of [tokens.access_token, tokens.refresh_token, cc.access_token, app.secret]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(9));
    }
    expect(dump).not.toContain(user.password);
  });
});
