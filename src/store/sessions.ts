import type { Executor } from './executor.js';

export async function insertSession(
  db: Executor,
  session: { id_digest: string; user_id: string; csrf_secret: string; created_at: Date; expires_at: Date },
): Promise<void> {
  await db.insertInto('sessions').values(session).execute();
}

export function findLiveSession(db: Executor, idDigest: string, now: Date) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id_digest', 's.user_id', 's.csrf_secret', 's.expires_at', 'u.username', 'u.email', 'u.is_admin'])
    .where('s.id_digest', '=', idDigest)
    .where('s.expires_at', '>', now)
    .executeTakeFirst();
}

export async function deleteSession(db: Executor, idDigest: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_digest', '=', idDigest).execute();
}
