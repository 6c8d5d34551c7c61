import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { digest } from '../../src/crypto/secrets.js';
import { createTestToken } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { asAuth, clientPost } from '../helpers/forms.js';

const t = useTestContext();
/** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
const clock = withClock(t);
let user: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;
let other: Awaited<ReturnType<typeof makeClient>>;
let resourceServer: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  user = await makeUser(t);
  app = await makeClient(t, { grantTypes: ['password', 'refresh_token', 'client_credentials'] });
  other = await makeClient(t, { grantTypes: ['password', 'refresh_token'] });
  resourceServer = await makeClient(t, { grantTypes: ['client_credentials'], mayIntrospect: true });
});

async function pair(c = app) {
  const r = await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password }, asAuth(c));
  return r.json() as { access_token: string; refresh_token: string };
}
const revoke = (params: Record<string, string>, c: { client_id: string; secret: string | null } = app) => clientPost(t.app, '/oauth/revoke', params, asAuth(c));
const introspect = (token: string, c: { client_id: string; secret: string | null } = resourceServer) => clientPost(t.app, '/oauth/introspect', { token }, asAuth(c));
const me = (token: string) => t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${token}` } });

describe('POST /oauth/revoke (RFC 7009)', () => {
  it.each([
    ['an access token', 'access_token', undefined],
    ['an access token with a wrong hint', 'access_token', 'refresh_token'],
    ['a refresh token', 'refresh_token', undefined],
    ['a refresh token with its hint', 'refresh_token', 'refresh_token'],
  ] as const)('revoking %s ends both tokens of the pair', async (_name, which, hint) => {
    const p = await pair();
    const r = await revoke({ token: p[which], ...(hint ? { token_type_hint: hint } : {}) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({});
    expect((await me(p.access_token)).statusCode).toBe(401);
    const refreshed = await clientPost(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: p.refresh_token }, asAuth(app));
    expect(refreshed.json().error).toBe('invalid_grant');
  });

  it('revoking a refresh token ends its whole family', async () => {
    const p = await pair();
    const rotated = (await clientPost(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: p.refresh_token }, asAuth(app))).json();
    await revoke({ token: rotated.refresh_token });
    expect((await me(rotated.access_token)).statusCode).toBe(401);
    const { grant_id } = await t.db.selectFrom('refresh_tokens').select('grant_id').where('token_digest', '=', digest(rotated.refresh_token)).executeTakeFirstOrThrow();
    const family = await t.db.selectFrom('access_tokens').select('revoked_at').where('grant_id', '=', grant_id).execute();
    expect(family).toHaveLength(2);
    expect(family.every((row) => row.revoked_at !== null)).toBe(true);
    const grant = await t.db.selectFrom('grants').select('revoked_at').where('id', '=', grant_id).executeTakeFirstOrThrow();
    expect(grant.revoked_at).not.toBeNull();
  });

  it('answers 200 {} for an unknown token and for one already revoked', async () => {
    expect((await revoke({ token: 'latch_at_never-issued' })).json()).toEqual({});
    const p = await pair();
    await revoke({ token: p.access_token });
    const again = await revoke({ token: p.access_token });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({});
  });

  it('refuses another client\'s token with 403 unauthorized_client and leaves it alive', async () => {
    const p = await pair(other);
    const r = await revoke({ token: p.access_token });
    expect(r.statusCode).toBe(403);
    expect(r.json()).toEqual({ error: 'unauthorized_client', error_description: 'You are not authorized to revoke this token' });
    expect((await me(p.access_token)).statusCode).toBe(200);
  });

  it('needs client authentication and a token parameter', async () => {
    const p = await pair();
    const anon = await t.app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token: p.access_token } });
    expect(anon.statusCode).toBe(401);
    expect(anon.json().error).toBe('invalid_client');
    expect((await revoke({})).json().error).toBe('invalid_request');
  });

  it('revokes a personal token by its owning client', async () => {
    const { token: pat } = await createTestToken(t, OPERATOR, app.client_id, { userId: user.id });
    expect((await me(pat.token)).statusCode).toBe(200);
    await revoke({ token: pat.token });
    expect((await me(pat.token)).statusCode).toBe(401);
  });
});

describe('POST /oauth/introspect (RFC 7662)', () => {
  it('describes an active user token: active, scope, client_id, username, sub, token_type, exp, iat, aud', async () => {
    const p = await pair();
    const r = await introspect(p.access_token);
    const now = Math.floor(t.clock.now().getTime() / 1000);
    expect(r.json()).toEqual({
      active: true,
      scope: 'read',
      client_id: app.client_id,
      username: user.username,
      sub: user.id,
      token_type: 'Bearer',
      exp: now + 7200,
      iat: now,
      aud: t.config.issuer,
    });
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('describes a refresh token too', async () => {
    const p = await pair();
    const r = await clientPost(t.app, '/oauth/introspect', { token: p.refresh_token, token_type_hint: 'refresh_token' }, asAuth(resourceServer));
    expect(r.json()).toMatchObject({ active: true, token_type: 'refresh_token', username: user.username });
  });

  it('answers just {"active":false} for revoked, expired, unknown and retired tokens', async () => {
    const revoked = await pair();
    await revoke({ token: revoked.access_token });
    expect((await introspect(revoked.access_token)).json()).toEqual({ active: false });
    expect((await introspect(revoked.refresh_token)).json()).toEqual({ active: false });
    expect((await introspect('garbage')).json()).toEqual({ active: false });
    const expiring = await pair();
    clock.advance(7200);
    expect((await introspect(expiring.access_token)).json()).toEqual({ active: false });
  });

  it('shows a personal token without expiry as active with no exp', async () => {
    const { token: pat } = await createTestToken(t, OPERATOR, app.client_id, { userId: user.id, scope: ['read', 'write'] });
    const r = (await introspect(pat.token)).json();
    expect(r).toMatchObject({ active: true, scope: 'read write', username: user.username });
    expect(r.exp).toBeUndefined();
  });

  it("tells a client without the permission only about its own tokens (RFC 7662 §4): another client's are {active:false}", async () => {
    const mine = await pair(app);
    const theirs = await pair(other);
    expect((await introspect(mine.access_token, app)).json()).toMatchObject({ active: true, client_id: app.client_id });
    expect((await introspect(mine.refresh_token, app)).json()).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect((await introspect(theirs.access_token, app)).json()).toEqual({ active: false });
    expect((await introspect(theirs.refresh_token, app)).json()).toEqual({ active: false });
    // The resource server, which has the permission, sees both.
    expect((await introspect(theirs.access_token)).json()).toMatchObject({ active: true, client_id: other.client_id });
  });

  it('refuses unauthenticated and public callers with 401 invalid_client', async () => {
    const p = await pair();
    const anon = await t.app.inject({ method: 'POST', url: '/oauth/introspect', payload: { token: p.access_token } });
    expect(anon.statusCode).toBe(401);
    const pub = await makeClient(t, { confidential: false, grantTypes: ['authorization_code'] });
    const r = await clientPost(t.app, '/oauth/introspect', { token: p.access_token }, asAuth(pub));
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
  });
});

describe('tokens of an application that is not active', () => {
  it.each(['pending', 'suspended'] as const)('introspect as inactive and fail bearer use while the application is %s, unrevoked', async (status) => {
    const c = await makeClient(t, { grantTypes: ['password', 'refresh_token'] });
    const p = await pair(c);
    // An edit sends an app back to approval without revoking anything; the status alone must stop its tokens.
    await t.db.updateTable('clients').set({ status }).where('id', '=', c.id).execute();
    expect((await introspect(p.access_token)).json()).toEqual({ active: false });
    expect((await introspect(p.refresh_token)).json()).toEqual({ active: false });
    const hinted = await clientPost(t.app, '/oauth/introspect', { token: p.refresh_token, token_type_hint: 'refresh_token' }, asAuth(resourceServer));
    expect(hinted.json()).toEqual({ active: false });
    expect((await me(p.access_token)).statusCode).toBe(401);

    await t.db.updateTable('clients').set({ status: 'active' }).where('id', '=', c.id).execute();
    expect((await introspect(p.refresh_token)).json()).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect((await me(p.access_token)).statusCode).toBe(200);
  });
});
