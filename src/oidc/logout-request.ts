import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import type { Client } from '../db/schema.js';
import type { Executor } from '../store/executor.js';
import { findClientByClientId } from '../store/clients.js';
import { OAuthError } from '../oauth/errors.js';
import { SIGNING_ALGS } from './keys.js';

/**
 * RP-Initiated Logout 1.0 §2: the parameters latch reads. Others (ui_locales,
 * logout_hint, anything unknown) are ignored; a repeated one is malformed.
 */
const logoutParams = z.object({
  id_token_hint: z.string().max(16_384).optional(),
  post_logout_redirect_uri: z.string().max(2000).optional(),
  client_id: z.string().max(200).optional(),
  state: z.string().max(2000).optional(),
});

export interface LogoutRequest {
  /** The app the request speaks for: the hint's audience, or client_id. */
  client: Client | null;
  /** Who the id_token_hint names: a valid hint is signed by latch for this issuer, expired or not (§2). */
  hint: { sub: string } | null;
  /** A post_logout_redirect_uri registered for `client` (exactly), or null when none was asked for. */
  redirectUri: string | null;
  state: string | null;
}

export interface LogoutRequestDeps {
  db: Executor;
  issuer: string;
  /** This instance's published keys (src/oidc/keys.ts): the hint must verify against one of them. */
  jwks(): Promise<JSONWebKeySet>;
}

const bad = (description: string, client?: Client) =>
  new OAuthError('invalid_request', description, {
    page: { title: 'Sign-out request not valid', ...(client?.website ? { back: { href: client.website, label: `Back to ${client.name}` } } : {}) },
  });

/**
 * Checks a logout request. An invalid id_token_hint, an unknown client, a
 * client_id other than the hint's audience or a post_logout_redirect_uri the
 * app did not register is refused (a page: there is no safe place to redirect).
 */
export async function checkLogoutRequest(deps: LogoutRequestDeps, raw: unknown): Promise<LogoutRequest> {
  const parsed = logoutParams.safeParse(raw ?? {});
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path[0];
    throw bad(`The parameter ${String(field ?? 'list')} is malformed (each may be given once)`);
  }
  const params = parsed.data;
  const hint = params.id_token_hint ? await verifyHint(deps, params.id_token_hint) : null;
  if (hint && params.client_id !== undefined && params.client_id !== hint.aud) {
    throw bad('client_id is not the app the id_token_hint was issued to');
  }
  const clientId = hint?.aud ?? params.client_id;
  const client = clientId !== undefined ? ((await findClientByClientId(deps.db, clientId)) ?? null) : null;
  if (clientId !== undefined && !client) throw bad(hint ? 'The app the id_token_hint was issued to no longer exists' : 'Unknown client_id');
  let redirectUri: string | null = null;
  if (params.post_logout_redirect_uri !== undefined) {
    if (!client) throw bad('post_logout_redirect_uri needs an id_token_hint or a client_id naming the app it belongs to');
    if (!client.post_logout_redirect_uris.includes(params.post_logout_redirect_uri)) {
      throw bad('post_logout_redirect_uri is not registered for this app', client);
    }
    redirectUri = params.post_logout_redirect_uri;
  }
  return { client, hint: hint && { sub: hint.sub }, redirectUri, state: params.state ?? null };
}

/**
 * The hint's signature, algorithm, type and issuer are checked; its expiry is
 * not: an app may end a session with an ID token that has expired (§2). A
 * hint whose key was retired and deleted no longer verifies.
 */
async function verifyHint(deps: LogoutRequestDeps, token: string): Promise<{ sub: string; aud: string }> {
  let verified;
  try {
    verified = await compactVerify(token, createLocalJWKSet(await deps.jwks()), { algorithms: [...SIGNING_ALGS] });
  } catch {
    throw bad('id_token_hint is not an ID token signed by this server');
  }
  // Access tokens (at+jwt) and logout tokens are signed with the same keys: only an ID token is a hint.
  if (verified.protectedHeader.typ !== 'JWT') throw bad('id_token_hint is not an ID token');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(new TextDecoder().decode(verified.payload)) as Record<string, unknown>;
  } catch {
    throw bad('id_token_hint is not an ID token');
  }
  if (claims.iss !== deps.issuer) throw bad('id_token_hint was issued by another server');
  const aud = Array.isArray(claims.aud) && claims.aud.length === 1 ? claims.aud[0] : claims.aud;
  if (typeof claims.sub !== 'string' || typeof aud !== 'string') throw bad('id_token_hint is not an ID token');
  return { sub: claims.sub, aud };
}

/**
 * Whether the session may end without asking (§2 and §6): only a valid hint
 * for the signed-in user (or no one signed in) proves the app speaks for them;
 * anything else could be a forged link, so the user confirms.
 */
export function endsWithoutAsking(request: LogoutRequest, signedInUserId: string | null): boolean {
  return signedInUserId === null || (request.hint !== null && request.hint.sub === signedInUserId);
}

/** Where the browser goes afterwards: the registered URI with `state` added, or null (latch's signed-out page). */
export function afterLogout(request: LogoutRequest): string | null {
  if (!request.redirectUri) return null;
  if (request.state === null) return request.redirectUri;
  const url = new URL(request.redirectUri);
  url.searchParams.append('state', request.state);
  return url.href;
}
