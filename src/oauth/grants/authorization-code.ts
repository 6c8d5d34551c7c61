import { digest } from '../../crypto/secrets.js';
import { consumeCode, findCode } from '../../store/codes.js';
import { grantIdsForCode, revokeGrants } from '../../store/tokens.js';
import { inTransaction } from '../../store/transaction.js';
import { OAuthError } from '../errors.js';
import { mintForNewGrant, type TokenResponse } from '../mint.js';
import { CODE_VERIFIER, verifierMatches } from '../pkce.js';
import { required } from '../params.js';
import { assertGrantAllowed } from './shared.js';
import type { GrantHandler } from './types.js';

const INVALID_CODE = 'The authorization code is invalid, expired, already used, or was issued to another client or redirect URI';

/**
 * RFC 6749 §4.1.3 with RFC 7636. The code is consumed and the tokens minted in
 * one transaction; a code presented again revokes what it produced (§4.1.2).
 */
export const authorizationCodeGrant: GrantHandler = async (ctx, params, { client }) => {
  assertGrantAllowed(client, 'authorization_code');
  const code = required(params, 'code');
  const verifier = params.code_verifier;
  if (verifier !== undefined && !CODE_VERIFIER.test(verifier)) {
    throw new OAuthError('invalid_request', 'code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~');
  }
  const codeDigest = digest(code);
  const now = ctx.clock.now();

  const outcome: { tokens: TokenResponse } | { reused: boolean } = await inTransaction(ctx.db, async (trx) => {
    const row = await consumeCode(trx, codeDigest, now);
    if (!row) return { reused: (await findCode(trx, codeDigest))?.client_id === client.id };
    if (row.client_id !== client.id) throw new OAuthError('invalid_grant', INVALID_CODE);
    if (row.expires_at.getTime() <= now.getTime()) throw new OAuthError('invalid_grant', INVALID_CODE);
    const expectedUri = row.redirect_uri ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined);
    if (row.redirect_uri !== null || params.redirect_uri !== undefined) {
      if (params.redirect_uri !== expectedUri) throw new OAuthError('invalid_grant', INVALID_CODE);
    }
    if (row.code_challenge) {
      if (verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required: the code was issued with a PKCE challenge');
      if (!verifierMatches(verifier, row.code_challenge)) throw new OAuthError('invalid_grant', 'The code_verifier does not match the code challenge');
    } else if (verifier !== undefined) {
      // A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
      throw new OAuthError('invalid_grant', 'The code was issued without a PKCE challenge; a code_verifier cannot be used');
    } else if (!client.is_confidential) {
      throw new OAuthError('invalid_grant', 'Public clients must use PKCE');
    }
    const tokens = await mintForNewGrant(trx, ctx.config, {
      client,
      userId: row.user_id,
      scope: row.scope,
      now,
      codeDigest,
      withRefresh: client.grant_types.includes('refresh_token'),
    });
    return { tokens };
  });

  if ('tokens' in outcome) return outcome.tokens;
  if (outcome.reused) {
    await inTransaction(ctx.db, async (trx) => revokeGrants(trx, await grantIdsForCode(trx, codeDigest), now));
  }
  throw new OAuthError('invalid_grant', INVALID_CODE);
};
