import { z } from 'zod';
import type { Client } from '../db/schema.js';
import type { ClientInput } from '../manage/clients/index.js';
import { ADMIN_ONLY_GRANTS, GRANT_TYPES } from '../manage/clients/index.js';
import { DEVICE_CODE_GRANT_TYPE } from '../oauth/device.js';

/** A text field, or absent; a repeated one (an array) is refused as malformed. */
const text = z.string().max(20_000).optional();

/** OpenID Connect settings (ID token algorithm, logout), kept together: the form's fields, values and input. */
function oidcFields() {
  return { post_logout_redirect_uris: text, backchannel_logout_uri: text, id_token_alg: text };
}
interface OidcValues {
  post_logout_redirect_uris: string;
  backchannel_logout_uri: string;
  id_token_alg: string;
}
const blankOidc = (): OidcValues => ({ post_logout_redirect_uris: '', backchannel_logout_uri: '', id_token_alg: 'RS256' });
const oidcFromBody = (body: Partial<OidcValues>): OidcValues => ({
  post_logout_redirect_uris: body.post_logout_redirect_uris ?? '',
  backchannel_logout_uri: body.backchannel_logout_uri ?? '',
  id_token_alg: body.id_token_alg ?? 'RS256',
});
const oidcFromClient = (client: Client): OidcValues => ({
  post_logout_redirect_uris: client.post_logout_redirect_uris.join('\n'),
  backchannel_logout_uri: client.backchannel_logout_uri ?? '',
  id_token_alg: client.id_token_alg,
});
const oidcInput = (values: OidcValues): Pick<ClientInput, 'postLogoutRedirectUris' | 'backchannelLogoutUri' | 'idTokenAlg'> => ({
  postLogoutRedirectUris: values.post_logout_redirect_uris.split(/\r?\n/),
  backchannelLogoutUri: values.backchannel_logout_uri.trim() || null,
  idTokenAlg: values.id_token_alg,
});
/** Checkbox groups arrive as nothing, one string, or an array of them. */
export const checked = z
  .union([z.string().max(200), z.array(z.string().max(200)).max(50)])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));

export const appFormBody = z.object({
  _csrf: text,
  name: text,
  description: text,
  website: text,
  redirect_uris: text,
  scopes: checked,
  grant_types: checked,
  client_type: z.enum(['confidential', 'public']).optional(),
  may_introspect: text,
  access_token_ttl: text,
  refresh_token_ttl: text,
  ...oidcFields(),
  access_token_format: text,
  resources: text,
});
export type AppFormBody = z.infer<typeof appFormBody>;

/** What the form shows: the user's own input when re-rendering, so nothing typed is lost. */
export interface AppFormValues extends OidcValues {
  name: string;
  description: string;
  website: string;
  redirect_uris: string;
  scopes: string[];
  grant_types: string[];
  client_type: 'confidential' | 'public';
  may_introspect: boolean;
  access_token_ttl: string;
  refresh_token_ttl: string;
  /** RFC 9068 / RFC 8707: `opaque` or `jwt`; resource URIs one per line. */
  access_token_format: string;
  resources: string;
}

export function blankValues(knownScopes: string[]): AppFormValues {
  return {
    name: '',
    description: '',
    website: '',
    redirect_uris: '',
    scopes: [...knownScopes],
    grant_types: ['authorization_code', 'refresh_token'],
    client_type: 'confidential',
    may_introspect: false,
    access_token_ttl: '',
    refresh_token_ttl: '',
    ...blankOidc(),
    access_token_format: 'opaque',
    resources: '',
  };
}

export function valuesFromBody(body: AppFormBody): AppFormValues {
  return {
    name: body.name ?? '',
    description: body.description ?? '',
    website: body.website ?? '',
    redirect_uris: body.redirect_uris ?? '',
    scopes: body.scopes,
    grant_types: body.grant_types,
    client_type: body.client_type ?? 'confidential',
    may_introspect: body.may_introspect !== undefined,
    access_token_ttl: body.access_token_ttl ?? '',
    refresh_token_ttl: body.refresh_token_ttl ?? '',
    ...oidcFromBody(body),
    access_token_format: body.access_token_format ?? 'opaque',
    resources: body.resources ?? '',
  };
}

export function valuesFromClient(client: Client): AppFormValues {
  return {
    name: client.name,
    description: client.description,
    website: client.website ?? '',
    redirect_uris: client.redirect_uris.join('\n'),
    scopes: client.scopes,
    grant_types: client.grant_types,
    client_type: client.is_confidential ? 'confidential' : 'public',
    may_introspect: client.may_introspect,
    access_token_ttl: client.access_token_ttl?.toString() ?? '',
    refresh_token_ttl: client.refresh_token_ttl?.toString() ?? '',
    ...oidcFromClient(client),
    access_token_format: client.access_token_format,
    resources: client.resources.join('\n'),
  };
}

/** Empty means "the server's default"; anything else must be a number, which validateClient checks. */
export function optionalSeconds(value: string): number | null {
  const v = value.trim();
  return v === '' ? null : /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

/** `admin`: whether the form showed the administrators' settings (see grantChoicesFor). */
export function clientInput(values: AppFormValues, admin: boolean): ClientInput {
  return {
    name: values.name,
    description: values.description,
    website: values.website,
    redirectUris: values.redirect_uris.split(/\r?\n/),
    scopes: values.scopes,
    grantTypes: values.grant_types,
    confidential: values.client_type === 'confidential',
    // Only administrators see the checkbox: for anyone else, not sending it leaves the setting as it is.
    mayIntrospect: admin || values.may_introspect ? values.may_introspect : undefined,
    accessTokenTtl: optionalSeconds(values.access_token_ttl),
    refreshTokenTtl: optionalSeconds(values.refresh_token_ttl),
    ...oidcInput(values),
    accessTokenFormat: values.access_token_format,
    resources: values.resources.split(/\r?\n/),
  };
}

export const GRANT_CHOICES: { value: (typeof GRANT_TYPES)[number]; label: string; hint: string }[] = [
  { value: 'authorization_code', label: 'Authorization code', hint: 'users sign in here and approve your app (recommended)' },
  { value: 'refresh_token', label: 'Refresh token', hint: 'renew access without asking the user again' },
  { value: DEVICE_CODE_GRANT_TYPE, label: 'Device code', hint: 'command-line tools and TVs: the user approves on another device' },
  { value: 'client_credentials', label: 'Client credentials', hint: 'your server acts for itself; confidential apps only' },
  { value: 'password', label: 'Password', hint: 'legacy: your app collects the password; confidential apps only' },
  { value: 'implicit', label: 'Implicit', hint: 'legacy browser flow; prefer authorization code with PKCE' },
];

/**
 * The grant types the form offers: administrators see all; anyone else only those
 * they may enable, plus an administrator-only one the app already has (to keep or drop).
 */
export function grantChoicesFor(admin: boolean, current: readonly string[]) {
  return GRANT_CHOICES.filter((g) => admin || !ADMIN_ONLY_GRANTS.includes(g.value) || current.includes(g.value));
}
