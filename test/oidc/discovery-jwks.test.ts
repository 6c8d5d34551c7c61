import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { OIDC_DISCOVERY_ENABLED, openidConfiguration } from '../../src/oidc/discovery.js';

let t: TestContext;

beforeAll(async () => {
  t = await createTestContext({ LATCH_ISSUER: 'https://id.example.com', LATCH_SCOPES: 'read write openid', LATCH_DEFAULT_SCOPE: 'read' });
});
afterAll(() => t.close());

const get = (url: string) => t.app.inject({ method: 'GET', url });

/** The facts both documents share, written out once here so a change to either shows. */
const issuer = 'https://id.example.com';
const shared = {
  issuer,
  authorization_endpoint: `${issuer}/oauth/authorize`,
  token_endpoint: `${issuer}/oauth/token`,
  jwks_uri: `${issuer}/oauth/jwks`,
  userinfo_endpoint: `${issuer}/oauth/userinfo`,
  revocation_endpoint: `${issuer}/oauth/revoke`,
  introspection_endpoint: `${issuer}/oauth/introspect`,
  device_authorization_endpoint: `${issuer}/oauth/device_authorization`,
  // LATCH_SCOPES first, then the OpenID Connect scopes not already among them.
  scopes_supported: ['read', 'write', 'openid', 'profile', 'email', 'offline_access'],
  response_types_supported: ['code', 'token'],
  response_modes_supported: ['query', 'fragment'],
  grant_types_supported: ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'implicit'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
  revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
  introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  code_challenge_methods_supported: ['S256'],
  authorization_response_iss_parameter_supported: true,
  service_documentation: `${issuer}/`,
};

describe('discovery documents', () => {
  it('GET /.well-known/oauth-authorization-server is the RFC 8414 document, with jwks_uri', async () => {
    const r = await get('/.well-known/oauth-authorization-server');
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('public, max-age=300');
    const doc = r.json();
    expect({ ...doc, grant_types_supported: [...doc.grant_types_supported].sort() }).toEqual({
      ...shared,
      grant_types_supported: [...shared.grant_types_supported].sort(),
    });
  });

  it('GET /.well-known/openid-configuration is the same facts plus what an OpenID provider states (404 while switched off)', async () => {
    const r = await get('/.well-known/openid-configuration');
    if (!OIDC_DISCOVERY_ENABLED) {
      expect(r.statusCode).toBe(404);
      return;
    }
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    expect(r.headers['cache-control']).toBe('public, max-age=300');
    const doc = r.json();
    expect({ ...doc, grant_types_supported: [...doc.grant_types_supported].sort() }).toEqual({
      ...shared,
      grant_types_supported: [...shared.grant_types_supported].sort(),
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      claims_supported: [
        'iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'sid', 'amr',
        'preferred_username', 'name', 'email', 'email_verified',
      ],
      prompt_values_supported: ['none', 'login', 'consent'],
      end_session_endpoint: `${shared.issuer}/oauth/logout`,
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
    });
  });

  it('states the same shared facts in both (one source)', async () => {
    const oauth = (await get('/.well-known/oauth-authorization-server')).json();
    const oidc = openidConfiguration(t.config) as Record<string, unknown>;
    for (const [name, value] of Object.entries(oauth)) expect(oidc[name]).toEqual(value);
  });
});

describe('GET /oauth/jwks', () => {
  it('serves an RFC 7517 JWK Set of public keys (never empty), short-lived in caches', async () => {
    const r = await get('/oauth/jwks');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('application/jwk-set+json');
    expect(r.headers['cache-control']).toBe('public, max-age=60');
    const { keys, ...rest } = r.json();
    expect(rest).toEqual({});
    expect(keys).toHaveLength(6);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(
        (key.kty === 'RSA' ? ['alg', 'e', 'kid', 'kty', 'n', 'use'] : key.kty === 'EC' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x']).sort(),
      );
      expect(key.use).toBe('sig');
    }
    expect(keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'ES256', 'EdDSA', 'EdDSA', 'RS256', 'RS256']);
    // The current keys come first, for verifiers that take the first one.
    expect(keys.slice(0, 3).map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
  });

  it('verifies what the app signs', async () => {
    const jws = await t.app.signingKeys.sign({ iss: issuer, sub: 'someone' }, { alg: 'ES256' });
    const jwks = (await get('/oauth/jwks')).json();
    const { payload } = await jwtVerify(jws, createLocalJWKSet(jwks), { issuer });
    expect(payload.sub).toBe('someone');
  });
});
