import type { Executor } from '../../store/executor.js';
import { findConsentScope } from '../../store/consents.js';
import { findUserById } from '../../store/users.js';
import { parseScope } from '../scopes.js';
import type { AuthorizationRequest, ConsentDecision } from './types.js';

export type Consent =
  /** Show the consent page: the app's owner (when a user registered it) and the scopes not consented to before. */
  | { kind: 'ask'; owner: string | null; newScopes: string[] }
  /** Go ahead; `remember` is the consent to record, when it grew (null when nothing new was granted). */
  | { kind: 'given'; remember: string[] | null };

/**
 * Whether the user must be asked: only for scopes they have not consented to
 * before, never for an app an administrator marked skip-consent, and not again
 * once they answered allow. A deny never reaches here. prompt=consent asks even
 * when everything was consented to before, and even for a skip-consent app: the
 * app itself asked for the page (OIDC Core §3.1.2.1).
 */
export async function consentFor(
  db: Executor,
  request: AuthorizationRequest,
  userId: string,
  decision: ConsentDecision | undefined,
): Promise<Consent> {
  const { client } = request;
  const remembered = parseScope(await findConsentScope(db, userId, client.id));
  const newScopes = request.scope.filter((s) => !remembered.includes(s));
  const forced = request.prompt.has('consent');
  if (decision === undefined && (forced || (newScopes.length > 0 && !client.skip_consent))) {
    const owner = client.owner_id ? ((await findUserById(db, client.owner_id))?.username ?? null) : null;
    return { kind: 'ask', owner, newScopes };
  }
  // Skip-consent clients are still recorded, so the user can see and revoke them.
  return { kind: 'given', remember: newScopes.length > 0 ? [...remembered, ...newScopes] : null };
}
