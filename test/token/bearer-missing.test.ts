import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';

let t: TestContext;
let accessToken: string;

beforeAll(async () => {
  t = await createTestContext();
  const user = await makeUser(t);
  const app = await makeClient(t, { grantTypes: ['password'] });
  accessToken = (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password }, asAuth(app))).json().access_token;
});
afterAll(() => t.close());

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
