import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';

const t = useTestContext();
let user: Awaited<ReturnType<typeof makeUser>>;
let first: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  user = await makeUser(t, { email: 'u@example.com' });
  first = await makeClient(t, { grantTypes: ['password', 'refresh_token', 'client_credentials'], scopes: ['read', 'write'] });
});

const token = (params: Record<string, string>, c: { client_id: string; secret: string | null } = first) => clientPost(t.app, '/oauth/token', params, asAuth(c));

describe('password grant (the Breakout seed)', () => {
  it('returns access and refresh tokens for the right password, usable at /me', async () => {
    const r = await token({ grant_type: 'password', username: user.username, password: user.password, scope: 'read write' });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 7200, scope: 'read write' });
    expect(body.refresh_token).toMatch(/^latch_rt_/);
    const me = await t.app.inject({ method: 'GET', url: '/me/', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.json()).toEqual({ sub: user.id, username: user.username, email: 'u@example.com' });
  });

  it('matches the username regardless of case', async () => {
    const r = await token({ grant_type: 'password', username: user.username.toUpperCase(), password: user.password });
    expect(r.statusCode).toBe(200);
  });

  it('answers an unknown user and a wrong password with the same invalid_grant', async () => {
    const wrong = await token({ grant_type: 'password', username: user.username, password: 'not it at all' });
    const unknown = await token({ grant_type: 'password', username: 'nobody-here', password: 'not it at all' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toEqual(unknown.json());
    expect(wrong.json()).toEqual({ error: 'invalid_grant', error_description: 'The username or password is incorrect' });
  });

  it('is refused with unauthorized_client for clients not registered for it', async () => {
    const other = await makeClient(t, { grantTypes: ['authorization_code'] });
    const r = await token({ grant_type: 'password', username: user.username, password: user.password }, other);
    expect(r.json().error).toBe('unauthorized_client');
  });

  it('requires username and password', async () => {
    expect((await token({ grant_type: 'password', username: user.username })).json()).toEqual({
      error: 'invalid_request',
      error_description: 'The password parameter is missing',
    });
  });
});

describe('client_credentials grant (the Mastodon seed\'s app token)', () => {
  it('issues a token with no user and no refresh token', async () => {
    const r = await token({ grant_type: 'client_credentials', scope: 'write' });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.refresh_token).toBeUndefined();
    expect(body.scope).toBe('write');
    const introspected = await clientPost(t.app, '/oauth/introspect', { token: body.access_token }, asAuth(first));
    expect(introspected.json()).toMatchObject({ active: true, client_id: first.client_id, scope: 'write' });
    expect(introspected.json().sub).toBeUndefined();
    const me = await t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.statusCode).toBe(401);
  });

  it('is refused for clients not registered for it', async () => {
    const other = await makeClient(t, { grantTypes: ['authorization_code'] });
    expect((await token({ grant_type: 'client_credentials' }, other)).json().error).toBe('unauthorized_client');
  });
});

describe('scopes', () => {
  it('grants LATCH_DEFAULT_SCOPE limited to the client when none is requested', async () => {
    expect((await token({ grant_type: 'client_credentials' })).json().scope).toBe('read');
    const writeOnly = await makeClient(t, { grantTypes: ['client_credentials'], scopes: ['write'] });
    const r = await token({ grant_type: 'client_credentials' }, writeOnly);
    expect(r.json().error).toBe('invalid_scope');
  });

  it.each([['admin'], ['read admin'], ['read "x"']])('refuses %s with invalid_scope', async (scope) => {
    const r = await token({ grant_type: 'client_credentials', scope });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid_scope');
  });

  it('refuses a scope the server knows but the client may not have', async () => {
    const readOnly = await makeClient(t, { grantTypes: ['client_credentials'], scopes: ['read'] });
    expect((await token({ grant_type: 'client_credentials', scope: 'write' }, readOnly)).json().error).toBe('invalid_scope');
  });
});
