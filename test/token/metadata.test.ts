import { describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';

const t = useTestContext();

describe('GET /.well-known/oauth-authorization-server (RFC 8414)', () => {
  it('lists every endpoint and capability', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    expect(r.statusCode).toBe(200);
    const m = r.json();
    const issuer = t.config.issuer;
    // The whole document, written out: a member added or dropped fails here.
    expect({ ...m, grant_types_supported: [...m.grant_types_supported].sort() }).toEqual({
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      device_authorization_endpoint: `${issuer}/oauth/device_authorization`,
      jwks_uri: `${issuer}/oauth/jwks`,
      userinfo_endpoint: `${issuer}/oauth/userinfo`,
      scopes_supported: ['read', 'write', 'openid', 'profile', 'email', 'offline_access'],
      response_types_supported: ['code', 'token'],
      response_modes_supported: ['query', 'fragment'],
      grant_types_supported: ['authorization_code', 'client_credentials', 'implicit', 'password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      service_documentation: `${issuer}/`,
    });
  });
});
