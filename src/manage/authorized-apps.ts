import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { findClientByClientId } from '../store/clients.js';
import { deleteConsent, listAuthorizedApps } from '../store/consents.js';
import { revokeClientUserTokens } from '../store/grants.js';
import { inTransaction } from '../store/transaction.js';

export { listAuthorizedApps };

/**
 * Takes back everything a user gave an app: its access tokens, its refresh
 * token families and the remembered consent, so the next request asks again.
 * False when the app does not exist.
 */
export async function revokeAuthorization(db: Kysely<Database>, clock: Clock, userId: string, clientId: string): Promise<boolean> {
  const client = await findClientByClientId(db, clientId);
  if (!client) return false;
  await inTransaction(db, async (trx) => {
    await revokeClientUserTokens(trx, client.id, userId, clock.now());
    await deleteConsent(trx, userId, client.id);
  });
  return true;
}
