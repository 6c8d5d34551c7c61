import type { Config } from '../../config.js';
import type { OAuthError } from '../errors.js';
import type { TokenResponse } from '../mint.js';
import { OOB_URI } from '../redirect-uris.js';
import type { AuthorizationOutcome, AuthorizationRequest } from './types.js';

/** What an error response needs to know about where it goes. */
interface ResponseTarget {
  redirectUri: string;
  state: string | undefined;
  responseType: string | undefined;
}

/** The code, in the query of the redirect URI (RFC 6749 §4.1.2, RFC 9207 iss). */
export function codeResponse(config: Config, request: AuthorizationRequest, code: string): AuthorizationOutcome {
  if (request.redirectUri === OOB_URI) return { kind: 'oob', code, client: request.client };
  return { kind: 'redirect', location: withResponse(request.redirectUri, 'query', { code, state: request.state, iss: config.issuer }) };
}

/** The access token, in the fragment of the redirect URI (RFC 6749 §4.2.2). */
export function tokenResponse(config: Config, request: AuthorizationRequest, token: TokenResponse): AuthorizationOutcome {
  return {
    kind: 'redirect',
    location: withResponse(request.redirectUri, 'fragment', {
      access_token: token.access_token,
      token_type: token.token_type,
      expires_in: String(token.expires_in),
      scope: token.scope,
      state: request.state,
      iss: config.issuer,
    }),
  };
}

/**
 * An error at the trusted redirect URI (RFC 6749 §4.1.2.1, §4.2.2.1). Out of band
 * there is nowhere to send it: it is thrown, and the user sees it as an error page.
 */
export function errorResponse(config: Config, target: ResponseTarget, err: OAuthError): AuthorizationOutcome {
  if (target.redirectUri === OOB_URI) throw err;
  return {
    kind: 'redirect',
    location: withResponse(target.redirectUri, target.responseType === 'token' ? 'fragment' : 'query', {
      error: err.code,
      error_description: err.description,
      state: target.state,
      iss: config.issuer,
    }),
  };
}

/** Adds the response parameters, keeping any query the registered URI has (RFC 6749 §3.1.2). */
function withResponse(redirectUri: string, mode: 'query' | 'fragment', values: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  const pairs = Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined);
  if (mode === 'fragment') {
    url.hash = new URLSearchParams(pairs).toString();
  } else {
    for (const [k, v] of pairs) url.searchParams.append(k, v);
  }
  return url.toString();
}
