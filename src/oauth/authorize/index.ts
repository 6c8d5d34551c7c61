import { ANONYMOUS, type AuditContext } from '../../audit/events.js';
import { OAuthError } from '../errors.js';
import { consentFor } from './consent.js';
import { issue } from './issue.js';
import { errorResponse } from './respond.js';
import { resolveTarget } from './target.js';
import type { AuthorizationDeps, AuthorizationOutcome, ConsentDecision } from './types.js';
import { validateRequest } from './validate.js';

export type { AuthorizationDeps, AuthorizationOutcome, AuthorizationRequest, ConsentDecision } from './types.js';

/**
 * One pass of the authorization endpoint: trust the client and redirect URI,
 * check the rest in the order of RFC 6749 §4.1.2.1, then ask for a sign-in, ask
 * for consent, or answer. Errors before the redirect URI is trusted are thrown
 * (an error page); errors after it, and a denial, are error responses at that URI.
 */
export async function authorize(
  deps: AuthorizationDeps,
  raw: Record<string, unknown>,
  userId: string | null,
  decision?: ConsentDecision,
  audit: AuditContext = ANONYMOUS,
): Promise<AuthorizationOutcome> {
  const target = await resolveTarget(deps.db, raw);
  const request = validateRequest(deps.config, target, raw);
  if (request instanceof OAuthError) return errorResponse(deps.config, target, request);
  if (!userId) return { kind: 'login', params: request.params };
  if (decision === 'deny') return errorResponse(deps.config, request, userDenied());

  const consent = await consentFor(deps.db, request, userId, decision);
  if (consent.kind === 'ask') return { kind: 'consent', request, owner: consent.owner, newScopes: consent.newScopes };
  return issue(deps, request, userId, consent.remember, audit);
}

const userDenied = () => new OAuthError('access_denied', 'The user denied the request', { status: 403 });
