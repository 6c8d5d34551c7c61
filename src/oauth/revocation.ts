import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { digest } from '../crypto/secrets.js';
import { findAccessToken, revokePairByAccess } from '../store/access-tokens.js';
import { revokeGrants } from '../store/grants.js';
import { findRefreshToken, revokePairByRefresh } from '../store/refresh-tokens.js';
import { inTransaction } from '../store/transaction.js';
import { ANONYMOUS, type AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import type { AuthenticatedClient } from './client-auth.js';
import { OAuthError } from './errors.js';
import { required, type Params } from './params.js';
import { accessTokenDigest, type AccessTokenVerifier } from './jwt-access-token.js';

const notYours = () => new OAuthError('unauthorized_client', 'You are not authorized to revoke this token', { status: 403 });

/**
 * RFC 7009. The hint only orders the lookups. Unknown and already revoked tokens
 * succeed silently; another client's token is refused. Revoking either token of a
 * pair ends both; revoking a refresh token ends its whole family.
 */
export async function revokeToken(
  db: Kysely<Database>,
  clock: Clock,
  verifier: AccessTokenVerifier,
  params: Params,
  { client }: AuthenticatedClient,
  audit: AuditContext = ANONYMOUS,
): Promise<void> {
  const token = required(params, 'token');
  // A JWT access token is recorded by its jti; a refresh token is always opaque.
  const digests = { access: await accessTokenDigest(verifier, token), refresh: digest(token) };
  const now = clock.now();
  const refreshFirst = params.token_type_hint === 'refresh_token';
  const lookups = refreshFirst ? [revokeRefresh, revokeAccess] : [revokeAccess, revokeRefresh];
  await inTransaction(db, async (trx) => {
    for (const attempt of lookups) {
      const tokenDigest = attempt === revokeRefresh ? digests.refresh : digests.access;
      if (tokenDigest === null || !(await attempt(trx, tokenDigest, client.id, now))) continue;
      const kind = attempt === revokeRefresh ? 'refresh_token' : 'access_token';
      await recordAudit(trx, { ...audit, actor: { kind: 'client', clientId: client.client_id }, at: now, action: 'token.revoke', client, details: { kind } });
      return;
    }
  });
}

async function revokeAccess(db: Parameters<typeof findAccessToken>[0], tokenDigest: string, clientUuid: string, now: Date): Promise<boolean> {
  const token = await findAccessToken(db, tokenDigest);
  if (!token) return false;
  if (token.client_uuid !== clientUuid) throw notYours();
  await revokePairByAccess(db, tokenDigest, now);
  return true;
}

async function revokeRefresh(db: Parameters<typeof findRefreshToken>[0], tokenDigest: string, clientUuid: string, now: Date): Promise<boolean> {
  const token = await findRefreshToken(db, tokenDigest);
  if (!token) return false;
  if (token.client_id !== clientUuid) throw notYours();
  await revokePairByRefresh(db, tokenDigest, now);
  await revokeGrants(db, [token.grant_id], now);
  return true;
}
