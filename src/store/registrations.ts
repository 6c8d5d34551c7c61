import type { Executor } from './executor.js';
import type { Client, RegistrationMetadata } from '../db/schema.js';

export interface Registration {
  client: Client;
  metadata: RegistrationMetadata;
}

export async function insertRegistration(
  db: Executor,
  row: { client_id: string; access_token_digest: string; metadata: RegistrationMetadata; address: string | null; created_at: Date },
): Promise<void> {
  await db.insertInto('client_registrations').values({ ...row, metadata: JSON.stringify(row.metadata) }).execute();
}

/** The registered client whose registration access token has this digest and whose client_id is `clientId`. */
export async function findRegistration(db: Executor, clientId: string, tokenDigest: string): Promise<Registration | undefined> {
  const row = await db
    .selectFrom('client_registrations as r')
    .innerJoin('clients', 'clients.id', 'r.client_id')
    .selectAll('clients')
    .select('r.metadata as registration_metadata')
    .where('r.access_token_digest', '=', tokenDigest)
    .where('clients.client_id', '=', clientId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { registration_metadata, ...client } = row;
  return { client, metadata: registration_metadata };
}

/** Replaces what the registration keeps, and its access token when `accessTokenDigest` is given (rotation on update). */
export async function updateRegistration(
  db: Executor,
  clientUuid: string,
  changes: { metadata: RegistrationMetadata; access_token_digest?: string },
): Promise<void> {
  await db
    .updateTable('client_registrations')
    .set({ metadata: JSON.stringify(changes.metadata), ...(changes.access_token_digest ? { access_token_digest: changes.access_token_digest } : {}) })
    .where('client_id', '=', clientUuid)
    .execute();
}

export async function insertRegistrationToken(db: Executor, row: { token_digest: string; uses_left: number; expires_at: Date; created_at: Date }): Promise<void> {
  await db.insertInto('registration_tokens').values(row).execute();
}

/** Whether an initial access token is live now (has a use left and has not expired); reads only. */
export async function registrationTokenIsLive(db: Executor, tokenDigest: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('registration_tokens')
    .select('token_digest')
    .where('token_digest', '=', tokenDigest)
    .where('uses_left', '>', 0)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Takes one use of an initial access token, in the statement that checks it:
 * concurrent registrations cannot spend the same last use twice.
 */
export async function spendRegistrationToken(db: Executor, tokenDigest: string, now: Date): Promise<boolean> {
  const row = await db
    .updateTable('registration_tokens')
    .set((eb) => ({ uses_left: eb('uses_left', '-', 1) }))
    .where('token_digest', '=', tokenDigest)
    .where('uses_left', '>', 0)
    .where('expires_at', '>', now)
    .returning('token_digest')
    .executeTakeFirst();
  return row !== undefined;
}
