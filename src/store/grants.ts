import { sql } from 'kysely';
import type { Executor } from './executor.js';

/** Marks the live rows of `table` whose uuid `column` is one of `ids` as revoked. */
async function revokeLive(
  db: Executor,
  table: 'grants' | 'access_tokens' | 'refresh_tokens',
  column: 'id' | 'grant_id' | 'client_id',
  ids: string[],
  now: Date,
): Promise<void> {
  await sql`update ${sql.table(table)} set revoked_at = ${now}
    where ${sql.ref(column)} = any(${ids}::uuid[]) and revoked_at is null`.execute(db);
}

/** Ends every token of the given grants (families). */
export async function revokeGrants(db: Executor, grantIds: string[], now: Date): Promise<void> {
  if (grantIds.length === 0) return;
  await revokeLive(db, 'grants', 'id', grantIds, now);
  await revokeLive(db, 'access_tokens', 'grant_id', grantIds, now);
  await revokeLive(db, 'refresh_tokens', 'grant_id', grantIds, now);
}

/** Ends every token issued from an authorization code. */
export async function revokeGrantsOfCode(db: Executor, codeDigest: string, now: Date): Promise<void> {
  const rows = await db.selectFrom('grants').select('id').where('code_digest', '=', codeDigest).execute();
  await revokeGrants(
    db,
    rows.map((r) => r.id),
    now,
  );
}

/** Ends every token a user holds for a client, personal tokens included. */
export async function revokeClientUserTokens(db: Executor, clientUuid: string, userId: string, now: Date): Promise<void> {
  const grants = await db
    .selectFrom('grants')
    .select('id')
    .where('client_id', '=', clientUuid)
    .where('user_id', '=', userId)
    .execute();
  await revokeGrants(
    db,
    grants.map((g) => g.id),
    now,
  );
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('client_id', '=', clientUuid)
    .where('user_id', '=', userId)
    .where('kind', '=', 'bearer')
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ends every live token of a client (suspension, secret compromise). */
export async function revokeClientTokens(db: Executor, clientUuid: string, now: Date): Promise<void> {
  for (const table of ['grants', 'access_tokens', 'refresh_tokens'] as const) {
    await revokeLive(db, table, 'client_id', [clientUuid], now);
  }
}

/** Ends every grant of a user and every token issued under them (each refresh-token family). */
export async function revokeGrantsOfUser(db: Executor, userId: string, now: Date): Promise<void> {
  const grants = await db.selectFrom('grants').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  await revokeGrants(
    db,
    grants.map((g) => g.id),
    now,
  );
}
