import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { addSeconds, epochSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import type { SigningAlg } from '../../src/db/schema.js';
import { s256 } from '../../src/oauth/pkce.js';
import { leftHalfHash } from '../../src/oidc/hashes.js';
import { resolveScope } from '../../src/oauth/scopes.js';
import { findLiveSession, insertSession } from '../../src/store/sessions.js';
import { insertCode, type CodeSignIn } from '../../src/store/codes.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost as post } from '../helpers/forms.js';
import { newVerifier } from '../helpers/pkce.js';
import { TEST_EPOCH } from '../helpers/clock.js';
import { ManualClock } from '../../src/clock.js';

const ISSUER = 'https://id.example.com';
const REDIRECT = 'https://app.example/callback';
let t: TestContext;
const clock = new ManualClock(TEST_EPOCH);
let user: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  t = await createTestContext({ LATCH_ISSUER: ISSUER, LATCH_SCOPES: 'read write', LATCH_DEFAULT_SCOPE: 'read', LATCH_ID_TOKEN_TTL: '600' });
  t.clock.use(clock);
  user = await makeUser(t, { email: 'ada@example.com' });
});
afterAll(() => t.close());

type TestClient = Awaited<ReturnType<typeof makeClient>>;

/** A client whose ID tokens use `alg`, set before its row is ever cached. */
async function clientWith(alg: SigningAlg = 'RS256', grantTypes?: string[]): Promise<TestClient> {
  const client = await makeClient(t, grantTypes ? { grantTypes } : {});
  await t.db.updateTable('clients').set({ id_token_alg: alg }).where('id', '=', client.id).execute();
  return client;
}

/** A code as the authorize side will store it, with the sign-in facts it is meant to pass. */
async function codeFor(client: TestClient, scope: string, signIn?: CodeSignIn, who = user) {
  const code = newSecret(PREFIX.code);
  const verifier = newVerifier();
  const now = t.clock.now();
  await insertCode(
    t.db,
    {
      code_digest: digest(code),
      client_id: client.id,
      user_id: who.id,
      redirect_uri: REDIRECT,
      scope,
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
      expires_at: addSeconds(now, 60),
      created_at: now,
    },
    signIn,
  );
  return { code, verifier };
}

async function exchange(client: TestClient, scope: string, signIn?: CodeSignIn, who = user) {
  const { code, verifier } = await codeFor(client, scope, signIn, who);
  const r = await post(t.app, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, asAuth(client));
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}

async function refresh(client: TestClient, refreshToken: string, scope?: string) {
  const r = await post(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...(scope ? { scope } : {}) }, asAuth(client));
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}

/** Verified as a relying party would: signature against the published JWKS, issuer, audience, expiry. */
async function verify(idToken: string, client: TestClient): Promise<JWTPayload> {
  const jwks = createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/oauth/jwks' })).json());
  const { payload } = await jwtVerify(idToken, jwks, { issuer: ISSUER, audience: client.client_id, currentDate: t.clock.now() });
  return payload;
}

const signIn = () => ({
  nonce: 'n-0S6_WzA2Mj',
  authTime: addSeconds(t.clock.now(), -120),
  sid: 'public-session-id-1',
  amr: ['pwd', 'otp'],
});

describe('ID token from a code exchange', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`${alg}: verifies against the JWKS and states the sign-in the code carried`, async () => {
      const client = await clientWith(alg);
      const facts = signIn();
      const tokens = await exchange(client, 'openid', facts);
      expect(decodeProtectedHeader(tokens.id_token)).toMatchObject({ alg, typ: 'JWT' });
      const claims = await verify(tokens.id_token, client);
      const now = epochSeconds(t.clock.now());
      expect(claims).toEqual({
        iss: ISSUER,
        sub: user.id,
        aud: client.client_id,
        iat: now,
        exp: now + 600,
        auth_time: epochSeconds(facts.authTime),
        nonce: facts.nonce,
        sid: facts.sid,
        amr: facts.amr,
        at_hash: leftHalfHash(tokens.access_token, alg),
      });
      expect(claims.sub).not.toBe(user.username);
    });
  }

  it('refuses to verify for another audience or issuer', async () => {
    const client = await clientWith();
    const { id_token } = await exchange(client, 'openid');
    const jwks = createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/oauth/jwks' })).json());
    const at = { currentDate: t.clock.now() };
    await expect(jwtVerify(id_token, jwks, { ...at, issuer: ISSUER, audience: 'someone-else' })).rejects.toThrow(/aud/);
    await expect(jwtVerify(id_token, jwks, { ...at, issuer: 'https://other.example', audience: client.client_id })).rejects.toThrow(/iss/);
  });

  it('a code stored without sign-in facts (what authorize passes today) gets an ID token without them', async () => {
    const client = await clientWith();
    const claims = await verify((await exchange(client, 'openid')).id_token, client);
    for (const absent of ['auth_time', 'nonce', 'sid', 'amr']) expect(claims).not.toHaveProperty(absent);
    expect(claims.sub).toBe(user.id);
  });

  it('states the claims its scopes grant, and no others', async () => {
    const client = await clientWith();
    const only = await verify((await exchange(client, 'openid')).id_token, client);
    for (const absent of ['preferred_username', 'name', 'email', 'email_verified']) expect(only).not.toHaveProperty(absent);

    const profile = await verify((await exchange(client, 'openid profile')).id_token, client);
    expect(profile).toMatchObject({ preferred_username: user.username, name: user.username });
    expect(profile).not.toHaveProperty('email');

    const email = await verify((await exchange(client, 'openid email')).id_token, client);
    expect(email).toMatchObject({ email: 'ada@example.com', email_verified: false });
    expect(email).not.toHaveProperty('preferred_username');

    await t.db.updateTable('users').set({ email_verified: true }).where('id', '=', user.id).execute();
    try {
      expect(await verify((await exchange(client, 'openid email')).id_token, client)).toMatchObject({ email_verified: true });
    } finally {
      await t.db.updateTable('users').set({ email_verified: false }).where('id', '=', user.id).execute();
    }

    const noAddress = await makeUser(t);
    const without = await verify((await exchange(client, 'openid email', undefined, noAddress)).id_token, client);
    expect(without).not.toHaveProperty('email');
    expect(without).not.toHaveProperty('email_verified');
  });

  it('a grant without openid gets no ID token, on exchange or refresh', async () => {
    const client = await clientWith();
    const tokens = await exchange(client, 'read');
    expect(tokens).not.toHaveProperty('id_token');
    expect(await refresh(client, tokens.refresh_token)).not.toHaveProperty('id_token');
  });
});

describe('ID token on refresh (OIDC Core 12.2)', () => {
  it('a refresh of an openid grant gets a new ID token: same sign-in, new iat and at_hash, no nonce', async () => {
    const client = await clientWith('ES256');
    const facts = signIn();
    const first = await exchange(client, 'openid profile', facts);
    const original = await verify(first.id_token, client);
    clock.advance(300);
    const second = await refresh(client, first.refresh_token);
    const renewed = await verify(second.id_token, client);
    expect(renewed).toEqual({
      iss: ISSUER,
      sub: original.sub,
      aud: original.aud,
      iat: original.iat! + 300,
      exp: original.iat! + 300 + 600,
      auth_time: original.auth_time,
      sid: original.sid,
      amr: original.amr,
      at_hash: leftHalfHash(second.access_token, 'ES256'),
      preferred_username: user.username,
      name: user.username,
    });
    expect(renewed).not.toHaveProperty('nonce');
    // And again, from the grant the refresh continued.
    const third = await verify((await refresh(client, second.refresh_token)).id_token, client);
    expect(third).toMatchObject({ auth_time: original.auth_time, sid: original.sid });
  });

  it('narrowing a refresh away from openid drops the ID token; narrowing within keeps it', async () => {
    const client = await clientWith();
    const first = await exchange(client, 'openid email read');
    const kept = await refresh(client, first.refresh_token, 'openid');
    expect((await verify(kept.id_token, client)).email).toBeUndefined();
    const other = await exchange(client, 'openid read');
    const dropped = await refresh(client, other.refresh_token, 'read');
    expect(dropped).not.toHaveProperty('id_token');
  });
});

describe('OpenID scopes', () => {
  it('client_credentials cannot get openid (there is no user to identify)', async () => {
    const client = await clientWith();
    for (const scope of ['openid', 'read profile', 'email']) {
      const r = await post(t.app, '/oauth/token', { grant_type: 'client_credentials', scope }, asAuth(client));
      expect(r.statusCode).toBe(400);
      expect(r.json().error).toBe('invalid_scope');
    }
  });

  it('an app token never gets them, even where LATCH_SCOPES and the client list openid', () => {
    const config = { ...t.config, scopes: ['read', 'openid'] };
    const client = { scopes: ['read', 'openid'], grant_types: ['authorization_code', 'client_credentials'] };
    expect(() => resolveScope(config, client, 'openid', undefined, 'app')).toThrow(/not allowed/);
    expect(resolveScope(config, client, 'read', undefined, 'app')).toBe('read');
    expect(resolveScope(config, client, 'openid read')).toBe('openid read');
  });

  it('a client without the code flow cannot ask for them; offline_access needs refresh_token', async () => {
    const passwordOnly = await clientWith('RS256', ['password']);
    const asked = (client: TestClient, scope: string) =>
      post(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope }, asAuth(client));
    const refused = await asked(passwordOnly, 'openid');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('invalid_scope');

    const noRefresh = await clientWith('RS256', ['authorization_code', 'password']);
    expect((await asked(noRefresh, 'openid offline_access')).json().error).toBe('invalid_scope');
    const withRefresh = await clientWith();
    const ok = await asked(withRefresh, 'openid offline_access');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ scope: 'openid offline_access' });
    expect(ok.json().refresh_token).toBeTypeOf('string');
  });

  it('the password grant states that the user signed in just now, by password', async () => {
    const client = await clientWith('EdDSA');
    const r = await post(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope: 'openid' }, asAuth(client));
    expect(r.statusCode).toBe(200);
    const claims = await verify(r.json().id_token, client);
    expect(claims).toMatchObject({ sub: user.id, auth_time: epochSeconds(t.clock.now()), amr: ['pwd'] });
    expect(claims).not.toHaveProperty('sid');
    expect(claims).not.toHaveProperty('nonce');
  });
});

describe('UserInfo', () => {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('GET and POST answer sub and the claims of the token scopes, keeping username and email', async () => {
    const client = await clientWith();
    const full = await exchange(client, 'openid profile email');
    const expected = {
      sub: user.id,
      username: user.username,
      email: 'ada@example.com',
      preferred_username: user.username,
      name: user.username,
      email_verified: false,
    };
    const get = await t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: bearer(full.access_token) });
    expect(get.statusCode).toBe(200);
    expect(get.json()).toEqual(expected);
    const posted = await t.app.inject({ method: 'POST', url: '/oauth/userinfo', headers: bearer(full.access_token) });
    expect(posted.statusCode).toBe(200);
    expect(posted.json()).toEqual(expected);

    const plain = await exchange(client, 'read');
    for (const url of ['/oauth/userinfo', '/me']) {
      const r = await t.app.inject({ method: 'GET', url, headers: bearer(plain.access_token) });
      expect(r.json()).toEqual({ sub: user.id, username: user.username, email: 'ada@example.com' });
    }
    const profileOnly = await exchange(client, 'openid profile');
    const p = await t.app.inject({ method: 'POST', url: '/oauth/userinfo', headers: bearer(profileOnly.access_token) });
    expect(p.json()).toEqual({ sub: user.id, username: user.username, email: 'ada@example.com', preferred_username: user.username, name: user.username });
  });

  it('POST reads the token from the Authorization header only, and says so', async () => {
    const client = await clientWith();
    const { access_token } = await exchange(client, 'openid');
    const r = await t.app.inject({
      method: 'POST',
      url: '/oauth/userinfo',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ access_token }).toString(),
    });
    expect(r.statusCode).toBe(401);
    expect(r.json().error_description).toMatch(/Authorization header/);
    const none = await t.app.inject({ method: 'POST', url: '/oauth/userinfo' });
    expect(none.statusCode).toBe(401);
  });
});

describe('sessions', () => {
  it('a new session records when and how it authenticated, and a public sid unrelated to its cookie', async () => {
    const idDigest = digest('latch_s_not-a-real-cookie');
    const now = t.clock.now();
    await insertSession(t.db, { id_digest: idDigest, user_id: user.id, csrf_secret: 'c', created_at: now, expires_at: addSeconds(now, 3600) });
    const other = digest('latch_s_another');
    await insertSession(t.db, { id_digest: other, user_id: user.id, csrf_secret: 'c', created_at: now, expires_at: addSeconds(now, 3600), amr: ['pwd', 'otp'] });
    const row = (await findLiveSession(t.db, idDigest, now))!;
    expect(row.auth_time).toEqual(now);
    expect(row.amr).toEqual(['pwd']);
    expect(row.sid).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(row.sid).not.toContain(idDigest);
    const second = (await findLiveSession(t.db, other, now))!;
    expect(second.amr).toEqual(['pwd', 'otp']);
    expect(second.sid).not.toBe(row.sid);
  });
});
