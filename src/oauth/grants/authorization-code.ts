import { randomUUID } from 'node:crypto';
import type { Client } from '../../db/schema.js';
import { digest } from '../../crypto/secrets.js';
import { redeemCode, type CodeBinding, type CodeState } from '../../store/codes.js';
import { revokeGrantsOfCode } from '../../store/grants.js';
import { inTransaction } from '../../store/transaction.js';
import { OAuthError } from '../errors.js';
import { issuePair } from '../mint.js';
import { CODE_VERIFIER, s256 } from '../pkce.js';
import { required } from '../params.js';
import { beyondGrant, checkResources, withinGrant } from '../resources.js';
import { isExpired } from '../token-state.js';
import { assertGrantAllowed } from './shared.js';
import type { GrantHandler } from './types.js';

const INVALID_CODE = 'The authorization code is invalid, expired, already used, or was issued to another client or redirect URI';

/**
 * What this request binds the code to. A code issued without a redirect_uri
 * (the client's only one was used) may be exchanged with or without it.
 * A code without a PKCE challenge is for confidential clients only.
 */
export function codeBinding(
  client: Pick<Client, 'redirect_uris' | 'is_confidential'>,
  redirectUri: string | undefined,
  verifier: string | undefined,
  resources: string[] = [],
): CodeBinding {
  return {
    resources: resources.length > 0 ? resources : null,
    redirectUri: redirectUri ?? null,
    orUnbound: redirectUri !== undefined && client.redirect_uris.length === 1 && client.redirect_uris[0] === redirectUri,
    challenge: verifier === undefined ? null : s256(verifier),
    withoutChallenge: client.is_confidential,
  };
}

export interface CodeProblem {
  error: OAuthError;
  /** A used code presented again: what it produced is revoked (RFC 6749 §4.1.2). */
  revokeIssued: boolean;
}

const invalid = (description = INVALID_CODE): CodeProblem => ({ error: new OAuthError('invalid_grant', description), revokeIssued: false });

/** Why a code cannot be exchanged by this request, or null when it can. */
export function codeProblem(code: CodeState | undefined, request: { clientUuid: string; binding: CodeBinding; now: Date }): CodeProblem | null {
  const { binding: b } = request;
  if (!code || code.client_id !== request.clientUuid) return invalid();
  if (code.consumed_at !== null) return { ...invalid(), revokeIssued: true };
  if (isExpired(code.expires_at, request.now)) return invalid();
  if (code.redirect_uri !== b.redirectUri && !(code.redirect_uri === null && b.orUnbound)) return invalid();
  if (code.code_challenge !== null) {
    if (b.challenge === null) return invalid('code_verifier is required: the code was issued with a PKCE challenge');
    if (b.challenge !== code.code_challenge) return invalid('The code_verifier does not match the code challenge');
  } else if (b.challenge !== null) {
    // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
    return invalid('The code was issued without a PKCE challenge; a code_verifier cannot be used');
  } else if (!b.withoutChallenge) {
    return invalid('Public clients must use PKCE');
  }
  // Only now, so that a bad code says nothing about its resources.
  if (b.resources && !withinGrant(b.resources, code.resources)) return { error: beyondGrant(), revokeIssued: false };
  return null;
}

/**
 * RFC 6749 §4.1.3 with RFC 7636. One statement spends the code and issues the
 * pair; when it does not apply, codeProblem says why, and a used code presented
 * again revokes what it produced.
 */
export const authorizationCodeGrant: GrantHandler = async (ctx, params, { client }, requested) => {
  assertGrantAllowed(client, 'authorization_code');
  const code = required(params, 'code');
  const verifier = params.code_verifier;
  if (verifier !== undefined && !CODE_VERIFIER.test(verifier)) {
    throw new OAuthError('invalid_request', 'code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~');
  }
  const codeDigest = digest(code);
  const now = ctx.clock.now();
  const binding = codeBinding(client, params.redirect_uri, verifier, checkResources(client, requested));
  const withRefresh = client.grant_types.includes('refresh_token');

  const result = await issuePair(ctx.config, { client, now, withRefresh, signer: ctx.signer }, (pair) =>
    redeemCode(ctx.db, { now, clientUuid: client.id, codeDigest, grantId: randomUUID(), binding, pair }),
  );
  if (result.issued) return result.tokens;
  // Null here would mean the statement and codeProblem disagree: refuse all the same.
  const problem = codeProblem(result.state, { clientUuid: client.id, binding, now }) ?? invalid();
  if (problem.revokeIssued) await inTransaction(ctx.db, (trx) => revokeGrantsOfCode(trx, codeDigest, now));
  throw problem.error;
};
