import { OAuthError } from '../errors.js';
import { readResources, RESOURCE } from '../params.js';

/**
 * The parameters of RFC 6749 §4.1.1 / §4.2.1, RFC 7636 §4.3 and OpenID Connect
 * Core §3.1.2.1 that latch reads; others are ignored.
 */
export const AUTHORIZATION_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
  'nonce',
  'prompt',
  'max_age',
  'login_hint',
] as const;
export type ParamName = (typeof AUTHORIZATION_PARAMS)[number];
/** Each read once, except `resource` (RFC 8707), which may repeat. */
export type AuthorizationParams = Partial<Record<ParamName, string>> & { resource?: string[] };

/** Long enough for any real client, short enough to keep the redirect URLs we build bounded. */
export const MAX_PARAM_LENGTH = 2000;

export const REPEATED = Symbol('repeated');

/** One value of a parameter: undefined when absent or empty, REPEATED when it came more than once. */
export function single(raw: Record<string, unknown>, name: string): string | undefined | typeof REPEATED {
  const value = raw[name];
  if (Array.isArray(value)) return REPEATED;
  if (typeof value !== 'string' || value === '') return undefined;
  return value;
}

/**
 * The parameters latch reads, each sent at most once and bounded in length;
 * the first problem is an OAuthError for the client.
 */
export function readAuthorizationParams(raw: Record<string, unknown>): AuthorizationParams {
  const params: AuthorizationParams = {};
  for (const name of AUTHORIZATION_PARAMS) {
    const value = single(raw, name);
    if (value === REPEATED) throw new OAuthError('invalid_request', `The ${name} parameter is repeated`);
    if (value === undefined) continue;
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', `The ${name} parameter is too long`);
    params[name] = value;
  }
  const resources = readResources(raw);
  if (resources.length > 0) params[RESOURCE] = resources;
  return params;
}

/** The parameters as name/value pairs, a repeated one once per value: to carry them through the login and consent pages. */
export function paramPairs(params: AuthorizationParams): [string, string][] {
  return Object.entries(params).flatMap(([name, value]) => (Array.isArray(value) ? value.map((v): [string, string] => [name, v]) : [[name, value as string]]));
}
