import type { Client } from '../db/schema.js';
import type { Config } from '../config.js';
import type { Clock } from '../clock.js';
import { addSeconds } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import { OOB_URI } from './redirect-uris.js';
import type { Executor } from '../store/executor.js';
import { findClientByClientId } from '../store/clients.js';
import { insertCode } from '../store/codes.js';
import { findConsentScope, saveConsent } from '../store/consents.js';
import { findUserById } from '../store/users.js';
import { inTransaction } from '../store/transaction.js';
import { clientStatusProblem } from './client-status.js';
import { OAuthError, type ErrorPageHints } from './errors.js';
import { mintAccessToken } from './mint.js';
import { findRegisteredRedirectUri } from './redirect-match.js';
import { formatScope, parseScope } from './scopes.js';
import { CODE_CHALLENGE } from './pkce.js';
import { resolveScope } from './scopes.js';
import { ANONYMOUS, type AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';

/** The parameters of RFC 6749 §4.1.1 / §4.2.1 and RFC 7636 §4.3 that latch reads; others are ignored. */
export const AUTHORIZATION_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;
type ParamName = (typeof AUTHORIZATION_PARAMS)[number];

/** Long enough for any real client, short enough to keep the redirect URLs we build bounded. */
const MAX_PARAM_LENGTH = 2000;

export interface AuthorizationDeps {
  db: Executor;
  config: Config;
  clock: Clock;
}

/** A request that passed every check: what the consent page shows and what a code is bound to. */
export interface AuthorizationRequest {
  client: Client;
  /** Where the response goes: the URI sent, or the client's only registered one. */
  redirectUri: string;
  /** The URI as the client sent it (null when omitted); the token request must repeat it (RFC 6749 §4.1.3). */
  sentRedirectUri: string | null;
  responseType: 'code' | 'token';
  scope: string[];
  state: string | undefined;
  codeChallenge: string | null;
  /** The parameters to carry through the login and consent pages, exactly as sent. */
  params: Partial<Record<ParamName, string>>;
}

export type AuthorizationOutcome =
  /** An authorization response (success or error) for the client, at its redirect URI. */
  | { kind: 'redirect'; location: string }
  /** Out of band: the code is shown to the user, who pastes it into the app. */
  | { kind: 'oob'; code: string; client: Client }
  | { kind: 'login'; params: Partial<Record<ParamName, string>> }
  | { kind: 'consent'; request: AuthorizationRequest; owner: string | null; newScopes: string[] };

export type Decision = 'allow' | 'deny';

/**
 * One pass of the authorization endpoint: validate the request in the order of
 * RFC 6749 §4.1.2.1, then either ask for a sign-in, ask for consent, or answer.
 * Errors before the redirect URI is trusted are thrown (an error page); errors
 * after it become error responses at that URI.
 */
export async function authorize(
  deps: AuthorizationDeps,
  raw: Record<string, unknown>,
  userId: string | null,
  decision?: Decision,
  audit: AuditContext = ANONYMOUS,
): Promise<AuthorizationOutcome> {
  const target = await resolveTarget(deps.db, raw);
  let request: AuthorizationRequest;
  try {
    request = validateRest(deps.config, target, raw);
  } catch (err) {
    return errorResponse(deps.config, target, err);
  }
  if (!userId) return { kind: 'login', params: request.params };

  try {
    if (decision === 'deny') throw new OAuthError('access_denied', 'The user denied the request', { status: 403 });
    const remembered = parseScope(await findConsentScope(deps.db, userId, request.client.id));
    const newScopes = request.scope.filter((s) => !remembered.includes(s));
    if (decision === undefined && newScopes.length > 0 && !request.client.skip_consent) {
      const owner = request.client.owner_id ? ((await findUserById(deps.db, request.client.owner_id))?.username ?? null) : null;
      return { kind: 'consent', request, owner, newScopes };
    }
    return await issue(deps, request, userId, newScopes.length > 0 ? [...remembered, ...newScopes] : null, audit);
  } catch (err) {
    return errorResponse(deps.config, request, err);
  }
}

interface Target {
  client: Client;
  redirectUri: string;
  sentRedirectUri: string | null;
  state: string | undefined;
  responseType: string | undefined;
}

/**
 * The client and the redirect URI, which must be trusted before anything is
 * sent there: failures here are shown to the user, never redirected (RFC 6749 §4.1.2.1).
 */
async function resolveTarget(db: Executor, raw: Record<string, unknown>): Promise<Target> {
  const clientId = pageParam(raw, 'client_id');
  if (!clientId) throw pageError('invalid_request', 'The request has no client_id');
  const client = clientId.length <= 200 ? await findClientByClientId(db, clientId) : undefined;
  if (!client) throw pageError('invalid_client', 'No application is registered with this client_id');

  const sent = pageParam(raw, 'redirect_uri');
  let redirectUri: string;
  if (sent === undefined) {
    if (client.redirect_uris.length !== 1) {
      throw pageError('invalid_request', 'The request has no redirect_uri, and the application registered more than one', { back: backToApp(client) });
    }
    redirectUri = client.redirect_uris[0]!;
  } else {
    if (!findRegisteredRedirectUri(client.redirect_uris, sent)) {
      throw pageError('invalid_request', 'The redirect_uri is not one the application registered', {
        shown: { label: 'The redirect_uri that did not match', value: sent },
        back: backToApp(client),
      });
    }
    redirectUri = sent;
  }
  // An app that is not active may be one an administrator stopped for sending people
  // somewhere harmful: its users see an error page here and are never sent on.
  const inactive = clientStatusProblem(client);
  if (inactive) throw pageError(inactive.code as 'invalid_application_status', inactive.description, { back: backToApp(client) });
  // Best effort only: a repeated or oversized state is an error, and is not echoed.
  const state = single(raw, 'state');
  const responseType = single(raw, 'response_type');
  return {
    client,
    redirectUri,
    sentRedirectUri: sent ?? null,
    state: typeof state === 'string' && state.length <= MAX_PARAM_LENGTH ? state : undefined,
    responseType: typeof responseType === 'string' ? responseType : undefined,
  };
}

/** Everything after the redirect URI, in the order a client most needs to hear about it. */
function validateRest(config: Config, target: Target, raw: Record<string, unknown>): AuthorizationRequest {
  const params: Partial<Record<ParamName, string>> = {};
  for (const name of AUTHORIZATION_PARAMS) {
    const value = single(raw, name);
    if (value === REPEATED) throw new OAuthError('invalid_request', `The ${name} parameter is repeated`);
    if (value === undefined) continue;
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', `The ${name} parameter is too long`);
    params[name] = value;
  }
  const { client } = target;

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
  if (responseType === 'token' && target.redirectUri === OOB_URI) {
    throw new OAuthError('invalid_request', 'The out-of-band redirect URI works only with response_type=code');
  }

  const scope = parseScope(resolveScope(config, client, params.scope));

  let codeChallenge: string | null = null;
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
    codeChallenge = params.code_challenge;
  } else if (params.code_challenge_method !== undefined) {
    throw new OAuthError('invalid_request', 'code_challenge_method was sent without a code_challenge');
  } else if (responseType === 'code' && !client.is_confidential) {
    throw new OAuthError('invalid_request', 'Public applications must use PKCE: send code_challenge and code_challenge_method=S256');
  }

  return {
    client,
    redirectUri: target.redirectUri,
    sentRedirectUri: target.sentRedirectUri,
    responseType,
    scope,
    state: params.state,
    codeChallenge,
    params,
  };
}

/**
 * Issues the code (or, for the implicit grant, the access token). `consentScope`
 * is what to remember as consented, when it grew.
 */
async function issue(
  deps: AuthorizationDeps,
  request: AuthorizationRequest,
  userId: string,
  consentScope: string[] | null,
  audit: AuditContext,
): Promise<AuthorizationOutcome> {
  const now = deps.clock.now();
  const { client } = request;
  const scope = formatScope(request.scope);
  return inTransaction(deps.db, async (trx) => {
    // Skip-consent clients are still recorded, so the user can see and revoke them.
    if (consentScope) await saveConsent(trx, userId, client.id, formatScope(consentScope), now);
    if (consentScope) await recordAudit(trx, { ...audit, at: now, action: 'consent.grant', user: { id: userId }, client, details: { scope: formatScope(consentScope) } });

    if (request.responseType === 'token') {
      const token = await mintAccessToken(trx, deps.config, { client, userId, scope, now });
      return {
        kind: 'redirect' as const,
        location: withResponse(request.redirectUri, 'fragment', {
          access_token: token.access_token,
          token_type: token.token_type,
          expires_in: String(token.expires_in),
          scope: token.scope,
          state: request.state,
          iss: deps.config.issuer,
        }),
      };
    }

    const code = newSecret(PREFIX.code);
    await insertCode(trx, {
      code_digest: digest(code),
      client_id: client.id,
      user_id: userId,
      redirect_uri: request.sentRedirectUri,
      scope,
      code_challenge: request.codeChallenge,
      code_challenge_method: request.codeChallenge ? 'S256' : null,
      expires_at: addSeconds(now, deps.config.codeTtl),
      created_at: now,
    });
    if (request.redirectUri === OOB_URI) return { kind: 'oob' as const, code, client };
    return {
      kind: 'redirect' as const,
      location: withResponse(request.redirectUri, 'query', { code, state: request.state, iss: deps.config.issuer }),
    };
  });
}

/** An error at the trusted redirect URI, or an error page when there is nowhere to redirect to. */
function errorResponse(
  config: Config,
  target: Pick<Target, 'redirectUri' | 'state' | 'responseType'>,
  err: unknown,
): AuthorizationOutcome {
  if (!(err instanceof OAuthError) || target.redirectUri === OOB_URI) throw err;
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
export function withResponse(redirectUri: string, mode: 'query' | 'fragment', values: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  const pairs = Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined);
  if (mode === 'fragment') {
    url.hash = new URLSearchParams(pairs).toString();
  } else {
    for (const [k, v] of pairs) url.searchParams.append(k, v);
  }
  return url.toString();
}

const REPEATED = Symbol('repeated');

/** One value of a parameter: undefined when absent or empty, REPEATED when it came more than once. */
function single(raw: Record<string, unknown>, name: string): string | undefined | typeof REPEATED {
  const value = raw[name];
  if (Array.isArray(value)) return REPEATED;
  if (typeof value !== 'string' || value === '') return undefined;
  return value;
}

/** client_id and redirect_uri: any doubt about them is an error page. */
function pageParam(raw: Record<string, unknown>, name: 'client_id' | 'redirect_uri'): string | undefined {
  const value = single(raw, name);
  if (value === REPEATED) throw pageError('invalid_request', `The ${name} parameter is repeated`);
  if (value !== undefined && value.length > MAX_PARAM_LENGTH) throw pageError('invalid_request', `The ${name} parameter is too long`);
  return value;
}

const pageError = (code: 'invalid_request' | 'invalid_client' | 'invalid_application_status', description: string, page?: ErrorPageHints) =>
  new OAuthError(code, description, { status: 400, page });

/** The way back from an error page about a known app: its website, when it has an http(s) one. */
function backToApp(client: Client): ErrorPageHints['back'] {
  const site = client.website;
  if (!site || !/^https?:\/\//i.test(site)) return undefined;
  return { href: site, label: `Back to ${client.name}` };
}
