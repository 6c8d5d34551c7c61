import { OAuthError } from './errors.js';

export type Params = Record<string, string>;

/** RFC 8707 §2: the one parameter that may repeat; read by readResources, never in Params. */
export const RESOURCE = 'resource';

/**
 * A request body (form or JSON) or query as flat string parameters. RFC 6749 §3.1:
 * parameters must not repeat; a repeated one arrives as an array and is refused,
 * as is any value that is not a string. `resource` is left to readResources.
 */
export function readParams(input: unknown): Params {
  if (input === undefined || input === null || input === '') return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new OAuthError('invalid_request', 'The request body must be a set of named parameters');
  }
  const params: Params = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (key === RESOURCE) continue;
    if (Array.isArray(value)) throw new OAuthError('invalid_request', `The parameter ${safeName(key)} is repeated`);
    if (typeof value === 'number' || typeof value === 'boolean') {
      params[key] = String(value);
      continue;
    }
    if (typeof value !== 'string') throw new OAuthError('invalid_request', `The parameter ${safeName(key)} must be a string`);
    // Empty parameters are treated as omitted (RFC 6749 §3.1).
    if (value !== '') params[key] = value;
  }
  return params;
}

/**
 * Every `resource` of a request (RFC 8707 §2, repeatable), in order; empty
 * values are omitted like other parameters. Validity is checkResources' job.
 */
export function readResources(input: unknown): string[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return [];
  const value = (input as Record<string, unknown>)[RESOURCE];
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  if (values.some((v) => typeof v !== 'string')) throw new OAuthError('invalid_request', 'The resource parameter must be a string');
  return (values as string[]).filter((v) => v !== '');
}

export function required(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined) throw new OAuthError('invalid_request', `The ${name} parameter is missing`);
  return value;
}

/** Names from the request are echoed only when short and printable. */
function safeName(name: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(name) ? name : '(unnamed)';
}
