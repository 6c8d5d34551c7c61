import { OAuthError } from '../../errors.js';
import { OOB_URI } from '../../redirect-uris.js';
import type { CheckInput } from '../types.js';

/** response_type (RFC 6749 §3.1.1): code, or token for clients allowed the implicit grant. */
export function checkResponseType({ client, redirectUri, params }: CheckInput): 'code' | 'token' {
  const responseType = params.response_type;
  if (!responseType) throw new OAuthError('invalid_request', 'The request has no response_type');
  if (responseType !== 'code' && responseType !== 'token') {
    throw new OAuthError('unsupported_response_type', 'Only response_type=code (and token, for applications allowed the implicit grant) is supported');
  }
  if (responseType === 'token' && !client.grant_types.includes('implicit')) {
    throw new OAuthError('unsupported_response_type', 'This application may not use the implicit grant (response_type=token)');
  }
  if (responseType === 'code' && !client.grant_types.includes('authorization_code')) {
    throw new OAuthError('unauthorized_client', 'This application may not use the authorization code grant');
  }
  if (responseType === 'token' && redirectUri === OOB_URI) {
    throw new OAuthError('invalid_request', 'The out-of-band redirect URI works only with response_type=code');
  }
  return responseType;
}
