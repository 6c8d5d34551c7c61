import type { AccessTokenFormat, Client } from '../../db/schema.js';
import type { Config } from '../../config.js';
import { parseScope } from '../../oauth/scopes.js';
import { OOB_URI, redirectUriProblem } from '../../oauth/redirect-uris.js';
import type { SigningAlg } from '../../db/schema.js';
import { SIGNING_ALGS } from '../../oidc/keys.js';
import { lifetimeProblem, ValidationError } from '../validation.js';
import { DEVICE_CODE_GRANT_TYPE } from '../../oauth/device.js';
import { MAX_RESOURCES, resourceProblem } from '../../oauth/resources.js';

/** An app's settings: what each may hold, and what only an administrator may turn on. */

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'implicit', DEVICE_CODE_GRANT_TYPE] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
export const DEFAULT_GRANT_TYPES: GrantType[] = ['authorization_code', 'refresh_token'];
/** Short names accepted for long grant type URIs (`--grant-types device_code`); stored as the URI. */
const GRANT_TYPE_ALIASES: Record<string, GrantType> = { device_code: DEVICE_CODE_GRANT_TYPE };
/**
 * Grants only an administrator may give a self-service app: RFC 9700 §2.4 says the
 * password grant MUST NOT be used, §2.1.2 that the implicit grant SHOULD NOT.
 */
export const ADMIN_ONLY_GRANTS: readonly GrantType[] = ['password', 'implicit'];
/** Grants that need the client to keep a secret. */
const CONFIDENTIAL_ONLY: GrantType[] = ['client_credentials', 'password'];

export interface ClientInput {
  name: string;
  description?: string;
  website?: string | null;
  redirectUris: string[];
  scopes?: string[];
  grantTypes?: string[];
  confidential?: boolean;
  skipConsent?: boolean;
  /** May introspect other clients' tokens (RFC 7662 §4): for resource servers. */
  mayIntrospect?: boolean;
  accessTokenTtl?: number | null;
  refreshTokenTtl?: number | null;
  /** OpenID Connect: where logout may return the browser, where back-channel logout is sent, how ID tokens are signed. */
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string | null;
  idTokenAlg?: string;
  /** RFC 9068 JWT or opaque access tokens. */
  accessTokenFormat?: string;
  /** RFC 8707: the resources its tokens may be for (none: any). */
  resources?: string[];
}

export const ACCESS_TOKEN_FORMATS: readonly AccessTokenFormat[] = ['opaque', 'jwt'];

interface ValidClient {
  name: string;
  description: string;
  website: string | null;
  redirect_uris: string[];
  scopes: string[];
  grant_types: GrantType[];
  skip_consent: boolean;
  may_introspect: boolean;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  id_token_alg: SigningAlg;
  access_token_format: AccessTokenFormat;
  resources: string[];
}

const MAX_URIS = 20;

/**
 * The one rule for every URI an app registers for the browser or for latch to
 * reach: redirect URIs (RFC 6749 §3.1.2, RFC 8252), post-logout redirect URIs
 * and the back-channel logout URI. Trimmed, blank lines dropped, duplicates
 * merged; a problem names the URI. `oob`: the out-of-band URN is a place to
 * show a code, so only redirect URIs may be it; `httpOnly`: latch POSTs to it.
 */
export function uriList(values: readonly string[], options: { oob?: boolean; httpOnly?: boolean } = {}): { uris: string[]; problem: string | null } {
  const uris = [...new Set(values.map((u) => u.trim()).filter((u) => u.length > 0))];
  if (uris.length > MAX_URIS) return { uris, problem: `at most ${MAX_URIS} are allowed` };
  for (const uri of uris) {
    const p =
      uri === OOB_URI && !options.oob
        ? 'is only for showing a code; it cannot be returned to'
        : options.httpOnly && !/^https?:/i.test(uri)
          ? 'must be an http(s) URL'
          : redirectUriProblem(uri);
    if (p) return { uris, problem: `${uri} ${p}` };
  }
  return { uris, problem: null };
}

/** Checks a registration; throws ValidationError naming each bad field. */
export function validateClient(config: Config, input: ClientInput, confidential: boolean): ValidClient {
  const problems: Record<string, string> = {};
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100) problems.name = 'must be 1-100 characters';
  // The consent page shows it: a line break or an invisible control could disguise it.
  else if (/[\p{Cc}\u2028\u2029]/u.test(name)) problems.name = 'must not contain control characters or line breaks';
  const description = (input.description ?? '').trim();
  if (description.length > 1000) problems.description = 'must be at most 1000 characters';
  let website: string | null = input.website?.trim() || null;
  if (website) {
    try {
      const u = new URL(website);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.website = 'must be an http(s) URL';
    } catch {
      problems.website = 'must be an absolute URL';
    }
  }
  const redirects = uriList(input.redirectUris, { oob: true });
  const redirectUris = redirects.uris;
  const grantTypes = [...new Set((input.grantTypes ?? DEFAULT_GRANT_TYPES).map((g) => (Object.hasOwn(GRANT_TYPE_ALIASES, g) ? GRANT_TYPE_ALIASES[g]! : g)))];
  const needsRedirect = grantTypes.includes('authorization_code') || grantTypes.includes('implicit');
  if (needsRedirect && redirectUris.length === 0) {
    problems.redirect_uris = 'at least one is needed for the authorization_code and implicit grants';
  } else if (redirects.problem) {
    problems.redirect_uris = redirects.problem;
  }
  const postLogout = uriList(input.postLogoutRedirectUris ?? []);
  if (postLogout.problem) problems.post_logout_redirect_uris = postLogout.problem;
  const backchannel = uriList(input.backchannelLogoutUri ? [input.backchannelLogoutUri] : [], { httpOnly: true });
  if (backchannel.problem) problems.backchannel_logout_uri = backchannel.problem;
  const idTokenAlg = input.idTokenAlg ?? 'RS256';
  if (!(SIGNING_ALGS as readonly string[]).includes(idTokenAlg)) problems.id_token_alg = `must be one of ${SIGNING_ALGS.join(', ')}`;
  const scopes = input.scopes ? [...new Set(input.scopes)] : [...config.scopes];
  const unknown = scopes.filter((s) => !config.scopes.includes(s));
  if (unknown.length > 0) problems.scopes = `unknown scope ${unknown.join(', ')}; known: ${config.scopes.join(' ')}`;
  else if (scopes.length === 0) problems.scopes = 'choose at least one';
  const badGrant = grantTypes.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (badGrant.length > 0) problems.grant_types = `unknown grant type ${badGrant.join(', ')}; known: ${GRANT_TYPES.join(', ')}`;
  else if (grantTypes.length === 0) problems.grant_types = 'choose at least one';
  else if (!confidential) {
    const forbidden = grantTypes.filter((g) => CONFIDENTIAL_ONLY.includes(g as GrantType));
    if (forbidden.length > 0) problems.grant_types = `public clients cannot use ${forbidden.join(' or ')}`;
  }
  for (const [field, value] of [
    ['access_token_ttl', input.accessTokenTtl],
    ['refresh_token_ttl', input.refreshTokenTtl],
  ] as const) {
    const problem = value === undefined || value === null ? null : lifetimeProblem(value);
    if (problem) problems[field] = problem;
  }
  const format = input.accessTokenFormat ?? 'opaque';
  if (!(ACCESS_TOKEN_FORMATS as readonly string[]).includes(format)) problems.access_token_format = `must be ${ACCESS_TOKEN_FORMATS.join(' or ')}`;
  const resources = [...new Set((input.resources ?? []).map((r) => r.trim()).filter((r) => r.length > 0))];
  const resourcesProblem = resources.length > MAX_RESOURCES ? `at most ${MAX_RESOURCES} are allowed` : resources.map((r) => [r, resourceProblem(r)]).find(([, p]) => p);
  if (typeof resourcesProblem === 'string') problems.resources = resourcesProblem;
  else if (resourcesProblem) problems.resources = `${resourcesProblem[0]} ${resourcesProblem[1]}`;
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  return {
    name,
    description,
    website,
    redirect_uris: redirectUris,
    scopes,
    grant_types: grantTypes as GrantType[],
    skip_consent: input.skipConsent ?? false,
    may_introspect: input.mayIntrospect ?? false,
    access_token_ttl: input.accessTokenTtl ?? null,
    refresh_token_ttl: input.refreshTokenTtl ?? null,
    post_logout_redirect_uris: postLogout.uris,
    backchannel_logout_uri: backchannel.uris[0] ?? null,
    id_token_alg: idTokenAlg as SigningAlg,
    access_token_format: format as AccessTokenFormat,
    resources,
  };
}

/**
 * What only an administrator may turn on, by field: the grants above and the
 * introspection permission. Turning them off, or keeping what an administrator
 * gave, is anyone's to do. `before` is null for a new registration.
 */
export function adminOnlyProblems(
  before: Pick<Client, 'grant_types' | 'may_introspect'> | null,
  input: Pick<ClientInput, 'grantTypes' | 'mayIntrospect'>,
): Record<string, string> {
  const problems: Record<string, string> = {};
  const had = before?.grant_types ?? [];
  const added = (input.grantTypes ?? []).filter((g) => (ADMIN_ONLY_GRANTS as readonly string[]).includes(g) && !had.includes(g));
  if (added.length > 0) {
    problems.grant_types = `only an administrator can enable the ${added.join(' and ')} grant${added.length > 1 ? 's' : ''} (RFC 9700 advises against them)`;
  }
  if (input.mayIntrospect === true && !before?.may_introspect) {
    problems.may_introspect = "only an administrator can let an app introspect other apps' tokens";
  }
  return problems;
}

/**
 * What an administrator looked at when approving: a new name (the consent page
 * shows it), and any redirect URI, scope or grant type the app did not have.
 * Narrowing any of them needs no new look.
 */
export function needsReview(before: Client, after: Client): boolean {
  const added = (was: string[], now: string[]) => now.some((v) => !was.includes(v));
  return (
    before.name !== after.name ||
    added(before.redirect_uris, after.redirect_uris) ||
    added(before.scopes, after.scopes) ||
    added(before.grant_types, after.grant_types) ||
    // Where logout sends the browser, and where latch posts, are looked at like redirect URIs.
    added(before.post_logout_redirect_uris, after.post_logout_redirect_uris) ||
    (after.backchannel_logout_uri !== null && after.backchannel_logout_uri !== before.backchannel_logout_uri)
  );
}

/**
 * Whether an edit by someone who is not an administrator sends the app back to
 * pending under manual approval: any edit of a denied app (the owner's way to
 * ask again), and an edit that widens an approved one past what was seen.
 */
export function editNeedsApproval(config: Pick<Config, 'appApproval'>, before: Client, after: Client): boolean {
  return config.appApproval === 'manual' && (before.status === 'denied' || (before.status === 'active' && needsReview(before, after)));
}

/** The names of the settings an update changed (never their values: a name is enough to answer "who changed what"). */
export function changedSettings(before: Client, after: Client): string[] {
  const keys = ['name', 'description', 'website', 'redirect_uris', 'scopes', 'grant_types', 'skip_consent', 'access_token_ttl', 'refresh_token_ttl',
    'post_logout_redirect_uris', 'backchannel_logout_uri', 'id_token_alg', 'access_token_format', 'resources'] as const;
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

export function parseScopeList(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : parseScope(value.replace(/,/g, ' '));
}
