import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, generateKeyPair, type JWTPayload } from 'jose';
import { useTestContext } from '../helpers/app.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { form, type FormValues } from '../helpers/forms.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { pkce } from '../helpers/pkce.js';
import { epochSeconds } from '../../src/clock.js';

const t = useTestContext({ LATCH_SCOPES: 'openid read write', LATCH_DEFAULT_SCOPE: 'read' });
const REDIRECT = 'https://app.example/callback';
const API = 'https://api.example.com/';
const FILES = 'https://files.example.com/';

type TestClient = Awaited<ReturnType<typeof makeClient>>;
let user: Awaited<ReturnType<typeof makeUser>>;
let session: SignedIn;
/** JWT access tokens, resources registered. */
let jwtApp: TestClient;
/** Opaque access tokens, any resource. */
let opaqueApp: TestClient;
let resourceServer: TestClient;

beforeAll(async () => {
  user = await makeUser(t);
  session = await signedInAs(t, user.id);
  const grantTypes = ['authorization_code', 'refresh_token', 'password', 'client_credentials'];
  jwtApp = await makeClient(t, { grantTypes, skipConsent: true, accessTokenFormat: 'jwt', resources: [API, FILES] });
  opaqueApp = await makeClient(t, { grantTypes, skipConsent: true });
  resourceServer = await makeClient(t, { grantTypes: ['client_credentials'], mayIntrospect: true });
});

/** A token endpoint request with repeatable parameters, as the client `c`. */
const post = (url: string, values: FormValues, c: TestClient) => {
  const f = form(values);
  return t.app.inject({ method: 'POST', url, payload: f.payload, headers: { ...f.headers, authorization: basic(c.client_id, c.secret) } });
};

/** /oauth/authorize as the signed-in user: where it redirects. */
async function authorize(c: TestClient, extra: Record<string, string | string[]>, challenge: string): Promise<URL> {
  const q = new URLSearchParams({ response_type: 'code', client_id: c.client_id, redirect_uri: REDIRECT, scope: 'openid read', code_challenge: challenge, code_challenge_method: 'S256' });
  for (const [k, v] of Object.entries(extra)) for (const item of [v].flat()) q.append(k, item);
  const r = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${q}`, headers: { cookie: session.cookie } });
  expect(r.statusCode, r.body).toBe(302);
  return new URL(r.headers.location as string);
}

/** A code for `resources`, exchanged with `atToken` as the token request's own resources. */
async function codeFlow(c: TestClient, resources: string[], atToken: string[] = []) {
  const { verifier, challenge } = pkce();
  const back = await authorize(c, { resource: resources }, challenge);
  const code = back.searchParams.get('code');
  expect(code, back.toString()).toBeTruthy();
  return post('/oauth/token', { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, code_verifier: verifier, resource: atToken }, c);
}

const jwks = async () => createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/oauth/jwks' })).json());
const verify = async (token: string) => (await jwtVerify(token, await jwks(), { issuer: t.config.issuer, typ: 'at+jwt', currentDate: t.clock.now() })).payload;
const introspect = async (token: string) => (await post('/oauth/introspect', { token }, resourceServer)).json();
const userinfo = (token: string) => t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${token}` } });

describe('resource indicators at /oauth/authorize (RFC 8707 §2)', () => {
  for (const [name, resource] of [
    ['a relative URI', '/api'],
    ['a URI with a fragment', `${API}#part`],
    ['a URI the client did not register', 'https://elsewhere.example/'],
  ] as const) {
    it(`answers ${name} with invalid_target at the redirect URI`, async () => {
      const back = await authorize(jwtApp, { resource, state: 's1' }, pkce().challenge);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get('error')).toBe('invalid_target');
      expect(back.searchParams.get('state')).toBe('s1');
      expect(back.searchParams.get('code')).toBeNull();
    });
  }

  it('carries repeated resources through the login page', async () => {
    const q = new URLSearchParams({ response_type: 'code', client_id: jwtApp.client_id, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' });
    q.append('resource', API);
    q.append('resource', FILES);
    const r = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${q}` });
    expect(r.statusCode).toBe(302);
    const returnTo = new URL(new URL(r.headers.location as string, t.config.issuer).searchParams.get('return_to')!, t.config.issuer);
    expect(returnTo.searchParams.getAll('resource')).toEqual([API, FILES]);
  });

  it('carries repeated resources through the consent page', async () => {
    const asking = await makeClient(t, { accessTokenFormat: 'jwt' });
    const q = new URLSearchParams({ response_type: 'code', client_id: asking.client_id, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' });
    q.append('resource', API);
    q.append('resource', FILES);
    const r = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${q}`, headers: { cookie: session.cookie } });
    expect(r.statusCode).toBe(200);
    const hidden = [...r.body.matchAll(/<input type="hidden" name="resource" value="([^"]*)">/g)].map((m) => m[1]);
    expect(hidden).toEqual([API, FILES]);
  });
});

describe('JWT access tokens (RFC 9068) with resources bound to the code', () => {
  it('issues a JWT whose audience is every resource of the code, verifiable against /oauth/jwks', async () => {
    const r = await codeFlow(jwtApp, [API, FILES]);
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    const claims = await verify(body.access_token);
    const now = epochSeconds(t.clock.now());
    expect(claims).toEqual({
      iss: t.config.issuer,
      aud: [API, FILES],
      sub: user.id,
      client_id: jwtApp.client_id,
      scope: 'openid read',
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      iat: now,
      exp: now + body.expires_in,
      auth_time: expect.any(Number),
    });
    expect(body.refresh_token).toMatch(/^latch_rt_/);
    // The ID token's at_hash is of the JWT as sent.
    expect(decodeJwt(body.id_token).at_hash).toBeTruthy();
    expect(await introspect(body.access_token)).toMatchObject({ active: true, aud: [API, FILES], sub: user.id, client_id: jwtApp.client_id });
  });

  it('narrows the audience to a subset named at the token endpoint (§2.2)', async () => {
    const r = await codeFlow(jwtApp, [API, FILES], [FILES]);
    expect(r.statusCode, r.body).toBe(200);
    expect((await verify(r.json().access_token)).aud).toBe(FILES);
  });

  it('refuses a token request for a resource beyond the code with invalid_target, and leaves the code unspent', async () => {
    const { verifier, challenge } = pkce();
    const back = await authorize(jwtApp, { resource: API }, challenge);
    const code = back.searchParams.get('code')!;
    const params = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    const wider = await post('/oauth/token', { ...params, resource: [API, FILES] }, jwtApp);
    expect(wider.statusCode).toBe(400);
    expect(wider.json().error).toBe('invalid_target');
    const ok = await post('/oauth/token', { ...params, resource: API }, jwtApp);
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('refuses bad resources at the token endpoint with 400 invalid_target', async () => {
    for (const resource of ['relative/path', `${API}#frag`, 'https://not-registered.example/']) {
      const r = await post('/oauth/token', { grant_type: 'client_credentials', scope: 'read', resource }, jwtApp);
      expect(r.statusCode, resource).toBe(400);
      expect(r.json().error).toBe('invalid_target');
    }
  });

  it('uses the issuer as the audience when no resource was asked for, and works at UserInfo', async () => {
    const r = await codeFlow(jwtApp, []);
    const token = r.json().access_token;
    expect((await verify(token)).aud).toBe(t.config.issuer);
    const me = await userinfo(token);
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().sub).toBe(user.id);
  });

  it('gives client credentials a JWT whose subject is the client', async () => {
    const r = await post('/oauth/token', { grant_type: 'client_credentials', scope: 'read', resource: API }, jwtApp);
    expect(r.statusCode, r.body).toBe(200);
    const claims = await verify(r.json().access_token);
    expect(claims).toMatchObject({ sub: jwtApp.client_id, client_id: jwtApp.client_id, aud: API, scope: 'read' });
    expect(claims.auth_time).toBeUndefined();
  });

  it('binds the password grant to its resources', async () => {
    const r = await post('/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope: 'read', resource: [FILES] }, jwtApp);
    expect(r.statusCode, r.body).toBe(200);
    expect(await verify(r.json().access_token)).toMatchObject({ aud: FILES, sub: user.id, auth_time: epochSeconds(t.clock.now()) });
  });

  it('lets a refresh narrow to the grant\'s resources, never widen them, and keeps the refresh token opaque', async () => {
    const first = (await codeFlow(jwtApp, [API])).json();
    const beyond = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token, resource: FILES }, jwtApp);
    expect(beyond.statusCode).toBe(400);
    expect(beyond.json().error).toBe('invalid_target');
    const same = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token, resource: API }, jwtApp);
    expect(same.statusCode, same.body).toBe(200);
    expect((await verify(same.json().access_token)).aud).toBe(API);
    expect(same.json().refresh_token).toMatch(/^latch_rt_/);
    const plain = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: same.json().refresh_token }, jwtApp);
    expect((await verify(plain.json().access_token)).aud).toBe(API);
  });

  it('records resources of opaque tokens too: introspection states them as aud', async () => {
    const r = await codeFlow(opaqueApp, ['https://any.example/x', 'urn:example:api']);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().access_token).toMatch(/^latch_at_/);
    expect(await introspect(r.json().access_token)).toMatchObject({ active: true, aud: ['https://any.example/x', 'urn:example:api'] });
  });
});

describe('JWT access tokens are recorded', () => {
  it('revoking one makes introspection say active:false and UserInfo refuse it', async () => {
    const token = (await codeFlow(jwtApp, [])).json().access_token;
    expect((await userinfo(token)).statusCode).toBe(200);
    const revoked = await post('/oauth/revoke', { token }, jwtApp);
    expect(revoked.statusCode).toBe(200);
    expect(await introspect(token)).toEqual({ active: false });
    expect((await userinfo(token)).statusCode).toBe(401);
  });

  it('refuses a JWT latch did not sign, even one naming a real jti, and the bare jti', async () => {
    const token = (await codeFlow(jwtApp, [])).json().access_token;
    const claims = decodeJwt(token) as JWTPayload;
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: decodeProtectedHeader(token).kid! }).sign(privateKey);
    expect((await userinfo(forged)).statusCode).toBe(401);
    expect(await introspect(forged)).toEqual({ active: false });
    expect((await userinfo(claims.jti!)).statusCode).toBe(401);
    expect(await introspect(claims.jti!)).toEqual({ active: false });
    // The real one still works.
    expect((await userinfo(token)).statusCode).toBe(200);
  });
});

describe('client settings', () => {
  it('refuses a bad resource or format at registration, naming the field', async () => {
    await expect(makeClient(t, { resources: ['not a uri'] })).rejects.toMatchObject({ fields: { resources: expect.stringContaining('absolute URI') } });
    await expect(makeClient(t, { resources: [`${API}#x`] })).rejects.toMatchObject({ fields: { resources: expect.stringContaining('fragment') } });
    await expect(makeClient(t, { accessTokenFormat: 'paseto' })).rejects.toMatchObject({ fields: { access_token_format: 'must be opaque or jwt' } });
  });
});
