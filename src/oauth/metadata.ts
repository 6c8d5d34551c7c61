import type { Config } from '../config.js';
import { SUPPORTED_GRANT_TYPES } from './grants/index.js';
import { OIDC_SCOPES } from './scopes.js';

export { OIDC_SCOPES };

/**
 * The facts both discovery documents state (RFC 8414 and OpenID Connect
 * Discovery 1.0): one source, so the two can never disagree.
 */
export function serverMetadata(config: Config) {
  const issuer = config.issuer;
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/oauth/jwks`,
    userinfo_endpoint: `${issuer}/oauth/userinfo`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    device_authorization_endpoint: `${issuer}/oauth/device_authorization`,
    ...(config.registration === 'closed' ? {} : { registration_endpoint: `${issuer}/oauth/register` }),
    scopes_supported: [...new Set([...config.scopes, ...OIDC_SCOPES])],
    response_types_supported: ['code', 'token'],
    response_modes_supported: ['query', 'fragment'],
    grant_types_supported: [...SUPPORTED_GRANT_TYPES, 'implicit'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    service_documentation: `${issuer}/`,
  };
}
