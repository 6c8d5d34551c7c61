import type { Executor } from './executor.js';

export async function findConsentScope(db: Executor, userId: string, clientUuid: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('consents')
    .select('scope')
    .where('user_id', '=', userId)
    .where('client_id', '=', clientUuid)
    .executeTakeFirst();
  return row?.scope;
}

export async function saveConsent(db: Executor, userId: string, clientUuid: string, scope: string, now: Date): Promise<void> {
  await db
    .insertInto('consents')
    .values({ user_id: userId, client_id: clientUuid, scope, created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scope, updated_at: now }))
    .execute();
}

export async function deleteConsent(db: Executor, userId: string, clientUuid: string): Promise<void> {
  await db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientUuid).execute();
}

/** The apps a user has authorized, with what they may do and since when. */
export function listAuthorizedApps(db: Executor, userId: string) {
  return db
    .selectFrom('consents as k')
    .innerJoin('clients as c', 'c.id', 'k.client_id')
    .select(['c.client_id', 'c.name', 'c.website', 'k.scope', 'k.created_at', 'k.updated_at'])
    .where('k.user_id', '=', userId)
    .orderBy('c.name', 'asc')
    .execute();
}
