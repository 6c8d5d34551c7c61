import { ANONYMOUS, type AuditContext } from '../../audit/events.js';
import { OAuthError } from '../errors.js';
import { consentFor } from './consent.js';
import { issue } from './issue.js';
import { errorResponse } from './respond.js';
import { afterReauthentication, needsReauthentication } from './sign-in.js';
import { resolveTarget } from './target.js';
import type { AuthorizationDeps, AuthorizationOutcome, ConsentDecision, SignedIn } from './types.js';
import { validateRequest } from './validate.js';

export type { AuthorizationDeps, AuthorizationOutcome, AuthorizationRequest, ConsentDecision, SignedIn } from './types.js';

/**
 * One pass of the authorization endpoint: trust the client and redirect URI,
 * check the rest in the order of RFC 6749 §4.1.2.1, then ask for a sign-in, ask
 * for consent, or answer. Errors before the redirect URI is trusted are thrown
 * (an error page); errors after it, and a denial, are error responses at that URI.
 * With prompt=none every page that would be shown is an error response instead.
 */
export async function authorize(
  deps: AuthorizationDeps,
  raw: Record<string, unknown>,
  signedIn: SignedIn | null,
  decision?: ConsentDecision,
  audit: AuditContext = ANONYMOUS,
): Promise<AuthorizationOutcome> {
  const target = await resolveTarget(deps.db, raw);
  const request = validateRequest(deps.config, target, raw);
  if (request instanceof OAuthError) return errorResponse(deps.config, target, request);
  const silent = request.prompt.has('none');
  if (!signedIn) {
    if (silent) return errorResponse(deps.config, request, loginRequired());
    // The sign-in about to happen satisfies prompt=login and max_age by itself.
    return { kind: 'login', params: afterReauthentication(request.params), reauth: false, loginHint: request.loginHint };
  }
  if (needsReauthentication(request, signedIn, deps.clock)) {
    if (silent) return errorResponse(deps.config, request, loginRequired());
    return { kind: 'login', params: afterReauthentication(request.params), reauth: true, loginHint: request.loginHint };
  }
  if (decision === 'deny') return errorResponse(deps.config, request, userDenied());

  const consent = await consentFor(deps.db, request, signedIn.userId, decision);
  if (consent.kind === 'ask') {
    if (silent) return errorResponse(deps.config, request, consentRequired());
    return { kind: 'consent', request, owner: consent.owner, newScopes: consent.newScopes };
  }
  return issue(deps, request, signedIn, consent.remember, audit);
}

const userDenied = () => new OAuthError('access_denied', 'The user denied the request', { status: 403 });
const loginRequired = () => new OAuthError('login_required', 'The user must sign in, and prompt=none forbids asking');
const consentRequired = () => new OAuthError('consent_required', 'The user must consent, and prompt=none forbids asking');
