import type { Client } from '../../db/schema.js';
import { OAuthError } from '../../oauth/errors.js';
import * as clients from '../../store/clients.js';
import { revokeClientTokens } from '../../store/grants.js';
import { inTransaction } from '../../store/transaction.js';
import { recordAudit } from '../../audit/record.js';
import { actingUserId, requireAdministrator, type Acting, type ManageDeps } from '../actor.js';
import { ValidationError } from '../validation.js';
import { findClientFor } from './find.js';
import { isAppDecision, transitionProblem, TRANSITIONS } from './transitions.js';

/** Refused decision: the app is not what the administrator reviewed. */
export class ClientChangedError extends ValidationError {
  constructor() {
    super({ version: 'this app changed since the page was loaded; review it again below and decide then' });
  }
}

/** The version of a client's settings a page shows, carried back by its forms. */
export const clientVersion = (client: Pick<Client, 'updated_at'>): string => String(client.updated_at.getTime());

export function parseClientVersion(value: unknown): Date | undefined {
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? new Date(Number(value)) : undefined;
}

/**
 * An administrator's decision on an app, as TRANSITIONS allows it: records who
 * made it and when, and ends the app's live tokens when it stops being active.
 * `version` is what the administrator's page showed: the decision applies only
 * to that. The command line gives none and acts on the current state.
 */
export async function decideClient(
  { db, clock }: Pick<ManageDeps, 'db' | 'clock'>,
  by: Acting,
  clientId: string,
  decision: string,
  options: { reason?: string | null; version?: Date } = {},
): Promise<Client> {
  requireAdministrator(by.actor);
  if (!isAppDecision(decision)) throw new OAuthError('not_found', 'No such page', { status: 404 });
  const client = await findClientFor({ db }, by.actor, clientId);
  const { version } = options;
  if (version && version.getTime() !== client.updated_at.getTime()) throw new ClientChangedError();
  const problem = transitionProblem(decision, client.status);
  if (problem) throw new ValidationError({ status: problem });
  const reason = options.reason?.trim() || null;
  if (TRANSITIONS[decision].reason === 'required' && !reason) throw new ValidationError({ reason: 'say why, so the owner knows what to fix' });
  const to = TRANSITIONS[decision].to;
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    const updated = await clients.updateClient(trx, client.client_id, { status: to, status_reason: reason }, now, version);
    if (!updated) throw version ? new ClientChangedError() : new ValidationError({ client: 'no longer exists' });
    await clients.recordDecision(trx, { client_id: client.id, decision, reason, decided_by: actingUserId(by.actor), decided_at: now });
    if (to !== 'active') await revokeClientTokens(trx, client.id, now);
    await recordAudit(trx, { ...by, at: now, action: `client.${decision}`, client, details: { from: client.status, to, reason } });
    return updated;
  });
}
