import type { Client } from '../../db/schema.js';
import { digest } from '../../crypto/secrets.js';
import { revokeGrants } from '../../store/grants.js';
import { findRefreshToken, rotateAgain, rotateRefreshToken, type RefreshState, type RetryState } from '../../store/refresh-tokens.js';
import { inTransaction } from '../../store/transaction.js';
import { OAuthError } from '../errors.js';
import { issuePair } from '../mint.js';
import { required } from '../params.js';
import { parseScope, resolveScope } from '../scopes.js';
import { checkResources, narrowResources } from '../resources.js';
import { isExpired, isLive, tokenState } from '../token-state.js';
import { assertGrantAllowed } from './shared.js';
import type { GrantContext, GrantHandler } from './types.js';

const INVALID_REFRESH = 'The refresh token is invalid, expired or revoked';

/** What to do with a refresh token that could not be rotated. */
export type RefreshProblem =
  | { error: OAuthError; revokeFamily?: string }
  /** A retry within LATCH_REFRESH_REUSE_GRACE of a rotation whose answer was lost. */
  | { rotateAgain: { successor: string } };

const invalid = (): OAuthError => new OAuthError('invalid_grant', INVALID_REFRESH);

/**
 * Why this client cannot rotate the token, or null when it can. A token that
 * was rotated or revoked and is presented again is reuse (RFC 9700 §4.14): its
 * family is revoked, unless the grace allows a retry, which succeeds only while
 * the successor is untouched (the client never saw it). `retried`: what that
 * retry found when it did not apply.
 */
export function refreshTokenProblem(
  token: RefreshState | undefined,
  request: { client: Pick<Client, 'id' | 'status'>; now: Date; graceSeconds: number },
  retried?: RetryState,
): RefreshProblem | null {
  const { client, now } = request;
  if (!token || token.client_id !== client.id) return { error: invalid() };
  const state = tokenState(token, client.status, now);
  if (state === 'live') return null;
  if (state === 'rotated' && token.replaced_by && !isExpired(token.expires_at, now)) {
    const sinceRotation = now.getTime() - token.rotated_at!.getTime();
    if (request.graceSeconds > 0 && sinceRotation <= request.graceSeconds * 1000) {
      if (!retried) return { rotateAgain: { successor: token.replaced_by } };
      // A concurrent retry of the same token replaced the successor first: this one just loses.
      if (retried.moved_on) return { error: invalid() };
    }
  }
  if (state === 'rotated' || state === 'revoked') return { error: invalid(), revokeFamily: token.grant_id };
  return { error: invalid() };
}

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14): each use retires the pair it came
 * with and issues a new one in the same family, in one statement; when that
 * does not apply, refreshTokenProblem says what happens instead.
 */
export const refreshTokenGrant: GrantHandler = async (ctx, params, { client }, requested) => {
  assertGrantAllowed(client, 'refresh_token');
  const tokenDigest = digest(required(params, 'refresh_token'));
  const now = ctx.clock.now();
  const request = { client, now, graceSeconds: ctx.config.refreshReuseGrace };
  const rotation = { client, now, withRefresh: true, signer: ctx.signer };

  const wanted = checkResources(client, requested);
  // Narrowing (of scope, RFC 6749 §6, or resources, RFC 8707 §2.2) is judged against
  // the grant before the token is spent: a second statement, for this rare request only.
  let scope: string | null = null;
  let resources: string[] | null = null;
  if (params.scope !== undefined || wanted.length > 0) {
    const seen = await findRefreshToken(ctx.db, tokenDigest);
    if (seen && seen.client_id === client.id && isLive(seen, client.status, now)) {
      if (params.scope !== undefined) scope = narrowed(ctx, client, params.scope, seen.scope);
      resources = narrowResources(wanted, seen.grant_resources);
    }
  }

  const result = await issuePair(ctx.config, rotation, (pair) =>
    rotateRefreshToken(ctx.db, { now, clientUuid: client.id, tokenDigest, scope, resources, pair }),
  );
  if (result.issued) return result.tokens;
  // Null here would mean the statement and refreshTokenProblem disagree: refuse all the same.
  let problem = refreshTokenProblem(result.state, request) ?? { error: invalid() };
  if ('rotateAgain' in problem) {
    const { successor } = problem.rotateAgain;
    const retryScope = params.scope === undefined ? null : narrowed(ctx, client, params.scope, result.state!.scope);
    // The grant's resources never change: what the rotation would have used, judged again.
    const retryResources = wanted.length === 0 ? null : narrowResources(wanted, (await findRefreshToken(ctx.db, tokenDigest))?.grant_resources ?? []);
    const again = await issuePair(ctx.config, rotation, (pair) =>
      rotateAgain(ctx.db, { now, clientUuid: client.id, tokenDigest, successor, scope: retryScope, resources: retryResources, pair }),
    );
    if (again.issued) return again.tokens;
    problem = refreshTokenProblem(result.state, request, again.state) ?? { error: invalid() };
  }
  if ('rotateAgain' in problem) throw invalid();
  if (problem.revokeFamily) {
    const family = problem.revokeFamily;
    await inTransaction(ctx.db, (trx) => revokeGrants(trx, [family], now));
    ctx.events?.refreshReuse?.();
  }
  throw problem.error;
};

function narrowed(ctx: GrantContext, client: Client, requested: string, granted: string): string {
  return resolveScope(ctx.config, client, requested, parseScope(granted));
}
