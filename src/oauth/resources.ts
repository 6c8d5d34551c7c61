import type { Client } from '../db/schema.js';
import { OAuthError } from './errors.js';

/** Bounded like other parameters; a client registers at most this many. */
export const MAX_RESOURCE_LENGTH = 2000;
export const MAX_RESOURCES = 20;

/**
 * Why `value` cannot be a resource indicator, or null: RFC 8707 §2 asks for an
 * absolute URI (RFC 3986 §4.3) without a fragment. The same rule for a request's
 * `resource` and a client's registered resources.
 */
export function resourceProblem(value: string): string | null {
  if (value.length > MAX_RESOURCE_LENGTH) return `must be at most ${MAX_RESOURCE_LENGTH} characters`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(value) || !URL.canParse(value)) return 'must be an absolute URI';
  if (value.includes('#')) return 'must not have a fragment';
  return null;
}

/**
 * RFC 8707 §2: the resources a request asks for, each valid and, when the client
 * registered resources, one of them; otherwise invalid_target. Duplicates count once.
 */
export function checkResources(client: Pick<Client, 'resources'>, requested: readonly string[]): string[] {
  if (requested.length > MAX_RESOURCES) throw new OAuthError('invalid_target', `At most ${MAX_RESOURCES} resource parameters are allowed`);
  for (const value of requested) {
    const problem = resourceProblem(value);
    // The value is not echoed: it may be anything, of any length.
    if (problem) throw new OAuthError('invalid_target', `Each resource ${problem}`);
    if (client.resources.length > 0 && !client.resources.includes(value)) {
      throw new OAuthError('invalid_target', 'A resource is not one this application may request tokens for');
    }
  }
  return [...new Set(requested)];
}

/**
 * RFC 8707 §2.2: a token request may narrow the resources of its grant, never
 * widen them. A grant bound to none may be narrowed to any the client may use.
 * Null: the grant's own.
 */
export function narrowResources(requested: string[], granted: readonly string[]): string[] | null {
  if (requested.length === 0) return null;
  if (!withinGrant(requested, granted)) throw beyondGrant();
  return requested;
}

export function withinGrant(requested: readonly string[], granted: readonly string[]): boolean {
  return granted.length === 0 || requested.every((r) => granted.includes(r));
}

export const beyondGrant = (): OAuthError => new OAuthError('invalid_target', 'A resource was not part of the authorization grant');

/**
 * The audience of an access token (RFC 9068 §3 `aud`, RFC 7662 `aud`): its
 * resources, or, without any, the issuer itself, whose own endpoints (UserInfo)
 * such a token is for.
 */
export function audienceOf(resources: readonly string[], issuer: string): string | string[] {
  if (resources.length === 0) return issuer;
  return resources.length === 1 ? resources[0]! : [...resources];
}
