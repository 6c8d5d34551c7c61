import type { Config } from '../config.js';
import { serverMetadata } from '../oauth/metadata.js';
import { SIGNING_ALGS } from './keys.js';
import { PROMPT_VALUES } from '../oauth/authorize/checks/prompt.js';

/**
 * Whether `/.well-known/openid-configuration` is served. The one switch: turn
 * it off while ID tokens are not issued, so relying parties do not discover an
 * OpenID provider that cannot sign them in.
 */
export const OIDC_DISCOVERY_ENABLED = true;

/** The claims an ID token or UserInfo response may carry. */
export const CLAIMS_SUPPORTED = [
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'at_hash',
  'sid',
  'amr',
  'preferred_username',
  'name',
  'email',
  'email_verified',
];

/** OpenID Connect Discovery 1.0 §3: the RFC 8414 facts plus what an OpenID provider states. */
export function openidConfiguration(config: Config) {
  const shared = serverMetadata(config);
  return {
    ...shared,
    // RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 (logout tokens carry `sid`).
    end_session_endpoint: `${config.issuer}/oauth/logout`,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...SIGNING_ALGS],
    claims_supported: CLAIMS_SUPPORTED,
    prompt_values_supported: [...PROMPT_VALUES],
  };
}
