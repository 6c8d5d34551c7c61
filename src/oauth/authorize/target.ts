import type { Client } from '../../db/schema.js';
import type { Executor } from '../../store/executor.js';
import { findClientByClientId } from '../../store/clients.js';
import { clientStatusProblem } from '../client-status.js';
import { OAuthError, type ErrorPageHints } from '../errors.js';
import { findRegisteredRedirectUri } from '../redirect-match.js';
import { MAX_PARAM_LENGTH, REPEATED, single } from './params.js';

/** Where the authorization response may be sent: settled before anything else is checked. */
export interface Target {
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
export async function resolveTarget(db: Executor, raw: Record<string, unknown>): Promise<Target> {
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
