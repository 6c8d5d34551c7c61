import { addSeconds } from '../../clock.js';
import { digest, newSecret, PREFIX } from '../../crypto/secrets.js';
import { insertCode } from '../../store/codes.js';
import { saveConsent } from '../../store/consents.js';
import { inTransaction } from '../../store/transaction.js';
import type { AuditContext } from '../../audit/events.js';
import { recordAudit } from '../../audit/record.js';
import { mintAccessToken } from '../mint.js';
import { formatScope } from '../scopes.js';
import { codeResponse, tokenResponse } from './respond.js';
import type { AuthorizationDeps, AuthorizationOutcome, AuthorizationRequest, SignedIn } from './types.js';

/**
 * Issues the code (or, for the implicit grant, the access token), recording
 * `consentScope` as consented when it grew, in one transaction.
 */
export async function issue(
  deps: AuthorizationDeps,
  request: AuthorizationRequest,
  signedIn: SignedIn,
  consentScope: string[] | null,
  audit: AuditContext,
): Promise<AuthorizationOutcome> {
  const now = deps.clock.now();
  const { client } = request;
  const { userId } = signedIn;
  const scope = formatScope(request.scope);
  return inTransaction(deps.db, async (trx) => {
    if (consentScope) {
      const consented = formatScope(consentScope);
      await saveConsent(trx, userId, client.id, consented, now);
      await recordAudit(trx, { ...audit, at: now, action: 'consent.grant', user: { id: userId }, client, details: { scope: consented } });
    }

    if (request.responseType === 'token') {
      return tokenResponse(deps.config, request, await mintAccessToken(trx, deps.config, { client, userId, scope, resources: request.resources, now, signer: deps.signer }));
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
    }, { nonce: request.nonce, authTime: signedIn.authTime, sid: signedIn.sid, amr: signedIn.amr }, request.resources);
    return codeResponse(deps.config, request, code);
  });
}
