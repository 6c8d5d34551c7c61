import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { requireBearer } from '../../src/web/bearer.js';
import { buildApp } from '../../src/app.js';

const t = useTestContext();
const clock = withClock(t);
let user: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;
let accessToken: string;

beforeAll(async () => {
  user = await makeUser(t);
  app = await makeClient(t, { grantTypes: ['password', 'refresh_token', 'client_credentials'] });
  accessToken = (await login()).access_token;
});

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
    clock.advance(7199);
    expect((await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode).toBe(200);
    clock.advance(1);
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

describe('a request without a bearer token in the Authorization header', () => {
  it('gets 401, a bare challenge and a body without an error code (RFC 6750 §3.1)', async () => {
    for (const url of ['/me', '/oauth/userinfo']) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="latch"');
      const body = r.json();
      expect(body).not.toHaveProperty('error');
      expect(body.error_description).toMatch(/access token is required/);
    }
  });

  it('that sends ?access_token= (passport-oauth2 default) is told to use the Authorization header', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/me?access_token=${accessToken}` });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="latch"');
    expect(r.json().error_description).toMatch(/^Send the access token in the Authorization header \(RFC 6750 section 2\.1\)/);
    expect(r.body).not.toContain(accessToken);
    // The same token in the header works.
    const ok = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${accessToken}` } });
    expect(ok.statusCode).toBe(200);
  });

  it('still answers a bad token invalid_token', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Bearer latch_at_nope' } });
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_token');
  });
});
