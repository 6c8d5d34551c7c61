import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { findClientByClientId } from '../store/clients.js';
import { deleteConsent, listAuthorizedApps } from '../store/consents.js';
import { revokeClientUserTokens } from '../store/grants.js';
import { inTransaction } from '../store/transaction.js';
import type { AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';

export { listAuthorizedApps };

/**
 * Takes back everything a user gave an app: its access tokens, its refresh
 * token families and the remembered consent, so the next request asks again.
 * False when the app does not exist.
 */
export async function revokeAuthorization(db: Kysely<Database>, clock: Clock, userId: string, clientId: string, audit: AuditContext): Promise<boolean> {
  const client = await findClientByClientId(db, clientId);
  if (!client) return false;
  const now = clock.now();
  await inTransaction(db, async (trx) => {
    await revokeClientUserTokens(trx, client.id, userId, now);
    await deleteConsent(trx, userId, client.id);
    await recordAudit(trx, { ...audit, at: now, action: 'consent.revoke', user: { id: userId }, client });
  });
  return true;
}
