import type { Kysely } from 'kysely';
import type { Client, Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { addSeconds } from '../clock.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import { formatScope, isSubset } from '../oauth/scopes.js';
import { insertPersonalToken, revokePersonalToken } from '../store/personal-tokens.js';
import { inTransaction } from '../store/transaction.js';
import { OPERATOR, type AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { lifetimeProblem, ValidationError } from './validation.js';

export interface PersonalToken {
  id: string;
  token: string;
  scope: string;
  expires_at: Date | null;
}

/**
 * A "test token" (Raindrop): an access token for one app, optionally bound to a
 * user, that never expires unless given a lifetime. Shown once.
 */
export async function createPersonalToken(
  db: Kysely<Database>,
  clock: Clock,
  config: Config,
  input: { client: Client; userId: string | null; scope?: string[]; ttl?: number | null; label?: string | null },
): Promise<PersonalToken> {
  const scopes = input.scope && input.scope.length > 0 ? input.scope : config.defaultScope.filter((s) => input.client.scopes.includes(s));
  if (scopes.length === 0 || !isSubset(scopes, input.client.scopes)) {
    throw new ValidationError({ scope: `must be among the app's scopes: ${input.client.scopes.join(' ')}` });
  }
  const ttlProblem = input.ttl === undefined || input.ttl === null ? null : lifetimeProblem(input.ttl);
  if (ttlProblem) throw new ValidationError({ ttl: ttlProblem });
  const label = input.label?.trim() || null;
  if (label && label.length > 100) throw new ValidationError({ label: 'must be at most 100 characters' });
  const now = clock.now();
  const token = newSecret(PREFIX.personalToken);
  const scope = formatScope(scopes);
  const expiresAt = input.ttl ? addSeconds(now, input.ttl) : null;
  const { id } = await insertPersonalToken(db, {
    token_digest: digest(token),
    client_id: input.client.id,
    user_id: input.userId,
    scope,
    label,
    expires_at: expiresAt,
    created_at: now,
  });
  return { id, token, scope, expires_at: expiresAt };
}

/**
 * Ends one live personal token of `client` (only `userId`'s when given) and
 * records it; false when there is no such live token.
 */
export async function endPersonalToken(
  db: Kysely<Database>,
  clock: Clock,
  client: Client,
  tokenId: string,
  audit: AuditContext = OPERATOR,
  userId?: string,
): Promise<boolean> {
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    if (!(await revokePersonalToken(trx, client.id, tokenId, now, userId))) return false;
    await recordAudit(trx, { ...audit, at: now, action: 'token.revoke', client, details: { kind: 'personal', id: tokenId } });
    return true;
  });
}
