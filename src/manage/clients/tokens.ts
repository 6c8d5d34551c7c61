import type { Client } from '../../db/schema.js';
import { addSeconds } from '../../clock.js';
import { digest, newSecret, PREFIX } from '../../crypto/secrets.js';
import { formatScope, isSubset } from '../../oauth/scopes.js';
import { insertPersonalToken, listPersonalTokens, revokePersonalToken } from '../../store/personal-tokens.js';
import { inTransaction } from '../../store/transaction.js';
import { recordAudit } from '../../audit/record.js';
import { onlyOwnOf, type Acting, type Actor, type ManageDeps } from '../actor.js';
import { lifetimeProblem, ValidationError } from '../validation.js';
import { findClientFor } from './find.js';

export interface PersonalToken {
  id: string;
  token: string;
  scope: string;
  expires_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A test token: an access token for one active app that never expires unless
 * given a lifetime; shown once. A user's token is bound to them; the operator
 * binds it to `userId`, or to nobody.
 */
export async function createTestToken(
  { db, clock, config }: ManageDeps,
  by: Acting,
  clientId: string,
  input: { userId?: string | null; scope?: string[]; ttl?: number | null; label?: string | null },
): Promise<{ client: Client; token: PersonalToken }> {
  const client = await findClientFor({ db }, by.actor, clientId);
  if (client.status !== 'active') throw new ValidationError({ token: `the app is ${client.status}; test tokens need an active app` });
  const scopes = input.scope && input.scope.length > 0 ? input.scope : config.defaultScope.filter((s) => client.scopes.includes(s));
  if (scopes.length === 0 || !isSubset(scopes, client.scopes)) {
    throw new ValidationError({ scope: `must be among the app's scopes: ${client.scopes.join(' ')}` });
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
    client_id: client.id,
    user_id: by.actor.kind === 'user' ? by.actor.id : (input.userId ?? null),
    scope,
    label,
    expires_at: expiresAt,
    created_at: now,
  });
  return { client, token: { id, token, scope, expires_at: expiresAt } };
}

/** An app's test tokens (never the tokens themselves): an owner's own, or for an administrator everyone's or `userId`'s. */
export async function listTestTokens(deps: Pick<ManageDeps, 'db'>, actor: Actor, clientId: string, filter: { userId?: string } = {}) {
  const client = await findClientFor(deps, actor, clientId);
  return { client, tokens: await listPersonalTokens(deps.db, client.id, onlyOwnOf(actor) ?? filter.userId) };
}

/**
 * Ends one live test token of the app (an owner: only their own) and records
 * it. `revoked` is false when there is no such live token, the id malformed
 * included; each front door says so its own way.
 */
export async function revokeTestToken({ db, clock }: Pick<ManageDeps, 'db' | 'clock'>, by: Acting, clientId: string, tokenId: string) {
  const client = await findClientFor({ db }, by.actor, clientId);
  if (!UUID.test(tokenId)) return { client, revoked: false };
  const now = clock.now();
  const revoked = await inTransaction(db, async (trx) => {
    if (!(await revokePersonalToken(trx, client.id, tokenId, now, onlyOwnOf(by.actor)))) return false;
    await recordAudit(trx, { ...by, at: now, action: 'token.revoke', client, details: { kind: 'personal', id: tokenId } });
    return true;
  });
  return { client, revoked };
}
