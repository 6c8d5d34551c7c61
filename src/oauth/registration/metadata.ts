import type { Client, RegistrationMetadata } from '../../db/schema.js';
import type { Config } from '../../config.js';
import { epochSeconds } from '../../clock.js';
import { ValidationError } from '../../manage/validation.js';
import type { ClientInput } from '../../manage/clients/settings.js';
import { OAuthError } from '../errors.js';
import { OIDC_SCOPES, parseScope, formatScope } from '../scopes.js';

/**
 * RFC 7591 §2 client metadata <-> the settings the console and the command line
 * edit. Only the shape is checked here (types, sizes, vocabularies RFC 7591
 * names); every rule about the values is validateClient's
 * (src/manage/clients/settings.ts), the one validator of apps, whose problems
 * come back under the RFC's field names.
 */

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** What a registration asks for: the app's settings, its type, and what latch only keeps. */
export interface RequestedClient {
  input: ClientInput;
  confidential: boolean;
  metadata: RegistrationMetadata;
  /** RFC 7592 §2.2: an update names the client it updates. */
  clientId: string | undefined;
}

const MAX_ARRAY = 20;
const MAX_STRING = 2000;

function metadataError(description: string): OAuthError {
  return new OAuthError('invalid_client_metadata', description);
}

function optionalString(body: Record<string, unknown>, field: string, max = MAX_STRING): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw metadataError(`${field} must be a string`);
  if (v.length > max) throw metadataError(`${field} must be at most ${max} characters`);
  return v;
}

function optionalStrings(body: Record<string, unknown>, field: string, maxItems = MAX_ARRAY): string[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw metadataError(`${field} must be an array of strings`);
  // The console's limit on redirect URIs is validateClient's; this one only keeps absurd bodies out.
  if (v.length > maxItems) throw new OAuthError(field === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata', `${field} may list at most ${maxItems}`);
  if (v.some((s: string) => s.length > MAX_STRING)) throw metadataError(`each of ${field} must be at most ${MAX_STRING} characters`);
  return v as string[];
}

/** An absolute http(s) URL, for what latch shows or links to but never redirects to. */
function checkWebUrl(field: string, value: string | undefined): void {
  if (value === undefined) return;
  let ok = false;
  try {
    const u = new URL(value);
    ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) throw metadataError(`${field} must be an absolute http(s) URL`);
}

const CONTROL = /[\p{Cc}\u2028\u2029]/u;

/**
 * Reads RFC 7591 client metadata (a parsed JSON body). Fields latch does not
 * know are ignored, as §2 asks; known ones of the wrong type or size are
 * refused. The password and implicit grants pass through to the one rule that
 * keeps them for administrators (adminOnlyProblems).
 */
export function readClientMetadata(config: Config, body: unknown): RequestedClient {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw metadataError('The request body must be a JSON object of client metadata (RFC 7591 section 2)');
  }
  const b = body as Record<string, unknown>;
  const method = optionalString(b, 'token_endpoint_auth_method') ?? 'client_secret_basic';
  if (!(AUTH_METHODS as readonly string[]).includes(method)) {
    throw metadataError(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const redirectUris = optionalStrings(b, 'redirect_uris') ?? [];
  const grantTypes = optionalStrings(b, 'grant_types', 10) ?? ['authorization_code'];
  const responseTypes = optionalStrings(b, 'response_types', 10) ?? (grantTypes.includes('authorization_code') ? ['code'] : []);
  const bad = responseTypes.filter((r) => r !== 'code');
  if (bad.length > 0) throw metadataError(`response_types may only be code (not ${bad.join(', ')}): latch registers no implicit clients`);
  if (responseTypes.includes('code') !== grantTypes.includes('authorization_code')) {
    throw metadataError('response_types code and grant_types authorization_code go together (RFC 7591 section 2.1)');
  }
  const clientUri = optionalString(b, 'client_uri');
  const logoUri = optionalString(b, 'logo_uri');
  checkWebUrl('logo_uri', logoUri);
  const contacts = optionalStrings(b, 'contacts', 10);
  if (contacts?.some((c) => c.length > 200 || CONTROL.test(c))) throw metadataError('contacts must be addresses of at most 200 characters on one line');
  const postLogout = optionalStrings(b, 'post_logout_redirect_uris');
  const backchannel = optionalString(b, 'backchannel_logout_uri');
  const softwareId = optionalString(b, 'software_id', 200);
  const softwareVersion = optionalString(b, 'software_version', 200);
  for (const [field, v] of [['software_id', softwareId], ['software_version', softwareVersion]] as const) {
    if (v !== undefined && CONTROL.test(v)) throw metadataError(`${field} must not contain control characters`);
  }
  const scope = optionalString(b, 'scope');
  // The OpenID Connect scopes are every code-flow client's (src/oauth/scopes.ts): nothing to register.
  const requested = scope === undefined ? undefined : parseScope(scope).filter((s) => !OIDC_SCOPES.includes(s));
  const name = optionalString(b, 'client_name', 1000);
  const clientId = b.client_id === undefined ? undefined : String(b.client_id);

  return {
    confidential: method !== 'none',
    clientId,
    input: {
      name: name ?? defaultName(clientUri, redirectUris),
      website: clientUri ?? null,
      redirectUris,
      scopes: requested === undefined ? undefined : requested.length > 0 ? requested : [...config.defaultScope],
      grantTypes,
      idTokenAlg: optionalString(b, 'id_token_signed_response_alg', 20),
      postLogoutRedirectUris: postLogout ?? [],
      backchannelLogoutUri: backchannel ?? null,
    },
    metadata: {
      token_endpoint_auth_method: method as AuthMethod,
      ...(logoUri !== undefined && { logo_uri: logoUri }),
      ...(contacts !== undefined && { contacts }),
      ...(softwareId !== undefined && { software_id: softwareId }),
      ...(softwareVersion !== undefined && { software_version: softwareVersion }),
    },
  };
}

/** A client that gives no name is shown by where it lives: the consent page needs something to say. */
function defaultName(clientUri: string | undefined, redirectUris: string[]): string {
  for (const uri of [clientUri, ...redirectUris]) {
    try {
      const host = uri ? new URL(uri).host : '';
      if (host) return host.slice(0, 100);
    } catch {
      // not a URL: validateClient says so
    }
  }
  return 'Unnamed app';
}

/** validateClient's field names, as RFC 7591 calls them. */
const RFC_FIELD: Record<string, string> = {
  name: 'client_name',
  website: 'client_uri',
  scopes: 'scope',
  id_token_alg: 'id_token_signed_response_alg',
};

/**
 * The validator's problems as RFC 7591 §3.2.2 errors: a bad redirect URI is
 * invalid_redirect_uri, anything else invalid_client_metadata.
 */
export function registrationError(err: ValidationError): OAuthError {
  const { redirect_uris: redirect, ...rest } = err.fields;
  if (redirect) return new OAuthError('invalid_redirect_uri', `redirect_uris: ${redirect}`);
  return metadataError(
    Object.entries(rest)
      .map(([f, m]) => `${RFC_FIELD[f] ?? f}: ${m}`)
      .join('; '),
  );
}

/** RFC 7591 §3.2.1 / RFC 7592 §3: the client's metadata as registered. */
export function clientInformation(config: Config, client: Client, metadata: RegistrationMetadata) {
  return {
    client_id: client.client_id,
    client_id_issued_at: epochSeconds(client.created_at),
    ...(client.is_confidential && { client_secret_expires_at: 0 }),
    client_name: client.name,
    ...(client.website && { client_uri: client.website }),
    redirect_uris: client.redirect_uris,
    grant_types: client.grant_types,
    response_types: client.grant_types.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: metadata.token_endpoint_auth_method ?? (client.is_confidential ? 'client_secret_basic' : 'none'),
    scope: formatScope(client.scopes),
    id_token_signed_response_alg: client.id_token_alg,
    ...(metadata.logo_uri !== undefined && { logo_uri: metadata.logo_uri }),
    ...(metadata.contacts !== undefined && { contacts: metadata.contacts }),
    ...(client.post_logout_redirect_uris.length > 0 && { post_logout_redirect_uris: client.post_logout_redirect_uris }),
    ...(client.backchannel_logout_uri && { backchannel_logout_uri: client.backchannel_logout_uri }),
    ...(metadata.software_id !== undefined && { software_id: metadata.software_id }),
    ...(metadata.software_version !== undefined && { software_version: metadata.software_version }),
    registration_client_uri: registrationClientUri(config, client.client_id),
  };
}

export const REGISTRATION_PATH = '/oauth/register';
export const registrationClientUri = (config: Config, clientId: string) => `${config.issuer}${REGISTRATION_PATH}/${encodeURIComponent(clientId)}`;
