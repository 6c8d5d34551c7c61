import { OAuthError } from '../../errors.js';
import { CODE_CHALLENGE } from '../../pkce.js';
import type { CheckInput } from '../types.js';

/**
 * code_challenge and code_challenge_method (RFC 7636 §4.3): S256 only, required
 * of public clients using the code flow; the challenge to bind the code to, or null.
 */
export function checkPkce({ client, params }: CheckInput, responseType: 'code' | 'token'): string | null {
  if (params.code_challenge_method !== undefined && params.code_challenge_method !== 'S256') {
    throw new OAuthError('invalid_request', 'Only code_challenge_method=S256 is supported');
  }
  if (params.code_challenge !== undefined) {
    if (params.code_challenge_method !== 'S256') {
      // RFC 7636 defaults an absent method to "plain", which latch refuses.
      throw new OAuthError('invalid_request', 'code_challenge_method=S256 is required with a code_challenge');
    }
    if (!CODE_CHALLENGE.test(params.code_challenge)) {
      throw new OAuthError('invalid_request', 'The code_challenge must be the 43-character base64url SHA-256 of the code_verifier');
    }
    if (responseType === 'token') throw new OAuthError('invalid_request', 'PKCE applies to response_type=code only');
    return params.code_challenge;
  }
  if (params.code_challenge_method !== undefined) {
    throw new OAuthError('invalid_request', 'code_challenge_method was sent without a code_challenge');
  }
  if (responseType === 'code' && !client.is_confidential) {
    throw new OAuthError('invalid_request', 'Public applications must use PKCE: send code_challenge and code_challenge_method=S256');
  }
  return null;
}
