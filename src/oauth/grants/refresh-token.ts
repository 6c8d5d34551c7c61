import { digest } from '../../crypto/secrets.js';
import type { Executor } from '../../store/executor.js';
import {
  findRefreshToken,
  replaceSuccessor,
  retireRefreshToken,
  revokeGrants,
  revokeAccessToken,
  revokePairByRefresh,
  type RefreshTokenView,
} from '../../store/tokens.js';
import { inTransaction } from '../../store/transaction.js';
import { OAuthError } from '../errors.js';
import { mintTokens, type TokenResponse } from '../mint.js';
import { required } from '../params.js';
import { parseScope } from '../scopes.js';
import { assertGrantAllowed, resolveScope } from './shared.js';
import type { GrantContext, GrantHandler } from './types.js';
import type { Client } from '../../db/schema.js';

const INVALID_REFRESH = 'The refresh token is invalid, expired or revoked';

type Outcome = { tokens: TokenResponse } | { reuseOf: string } | { invalid: true };

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14): each use retires the pair it came
 * with and mints a new one in the same family, in one transaction. A retired token
 * presented again revokes the family, unless LATCH_REFRESH_REUSE_GRACE allows a
 * retry of a rotation whose answer the client never received.
 */
export const refreshTokenGrant: GrantHandler = async (ctx, params, { client }) => {
  assertGrantAllowed(client, 'refresh_token');
  const tokenDigest = digest(required(params, 'refresh_token'));
  const now = ctx.clock.now();

  const outcome: Outcome = await inTransaction(ctx.db, async (trx) => {
    const retired = await retireRefreshToken(trx, tokenDigest, now);
    if (retired) {
      if (retired.client_id !== client.id || isExpired(retired.expires_at, now)) throw new OAuthError('invalid_grant', INVALID_REFRESH);
      const tokens = await rotate(trx, ctx, client, retired, params.scope);
      return { tokens };
    }
    const row = await findRefreshToken(trx, tokenDigest);
    if (!row || row.client_id !== client.id) return { invalid: true };
    if (row.revoked_at === null && row.rotated_at !== null && withinGrace(ctx, row.rotated_at, now) && row.replaced_by) {
      const tokens = await rotateAgainInGrace(trx, ctx, client, row, params.scope);
      if (tokens) return { tokens };
    }
    return { reuseOf: row.grant_id };
  });

  if ('tokens' in outcome) return outcome.tokens;
  if ('reuseOf' in outcome) {
    await inTransaction(ctx.db, (trx) => revokeGrants(trx, [outcome.reuseOf], now));
    ctx.events?.refreshReuse?.();
  }
  throw new OAuthError('invalid_grant', INVALID_REFRESH);
};

function isExpired(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && expiresAt.getTime() <= now.getTime();
}

function withinGrace(ctx: GrantContext, rotatedAt: Date, now: Date): boolean {
  return ctx.config.refreshReuseGrace > 0 && now.getTime() - rotatedAt.getTime() <= ctx.config.refreshReuseGrace * 1000;
}

async function rotate(
  trx: Executor,
  ctx: GrantContext,
  client: Client,
  from: { token_digest: string; grant_id: string; user_id: string | null; scope: string; access_token_digest: string | null },
  requestedScope: string | undefined,
): Promise<TokenResponse> {
  const scope = resolveScope(ctx.config, client, requestedScope, parseScope(from.scope));
  const now = ctx.clock.now();
  if (from.access_token_digest) await revokeAccessToken(trx, from.access_token_digest, now);
  const tokens = await mintTokens(trx, ctx.config, {
    client,
    userId: from.user_id,
    scope,
    now,
    grantId: from.grant_id,
    withRefresh: true,
  });
  await replaceSuccessor(trx, from.token_digest, null, digest(tokens.refresh_token!));
  return tokens;
}

/**
 * A retry inside the grace window: allowed only while the successor is untouched
 * (the client never saw it), which it then replaces. Null means "treat as reuse".
 */
async function rotateAgainInGrace(
  trx: Executor,
  ctx: GrantContext,
  client: Client,
  row: RefreshTokenView,
  requestedScope: string | undefined,
): Promise<TokenResponse | null> {
  const successor = await findRefreshToken(trx, row.replaced_by!);
  if (!successor || successor.rotated_at !== null || successor.revoked_at !== null) return null;
  if (isExpired(row.expires_at, ctx.clock.now())) return null;
  const now = ctx.clock.now();
  await revokePairByRefresh(trx, successor.token_digest, now);
  const scope = resolveScope(ctx.config, client, requestedScope, parseScope(row.scope));
  const tokens = await mintTokens(trx, ctx.config, { client, userId: row.user_id, scope, now, grantId: row.grant_id, withRefresh: true });
  const swapped = await replaceSuccessor(trx, row.token_digest, row.replaced_by, digest(tokens.refresh_token!));
  if (!swapped) throw new OAuthError('invalid_grant', INVALID_REFRESH);
  return tokens;
}
