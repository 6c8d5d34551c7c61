import type { Executor } from './executor.js';
import type { AuthorizationCode } from '../db/schema.js';

export async function insertCode(
  db: Executor,
  code: Omit<AuthorizationCode, 'consumed_at' | 'created_at'> & { created_at: Date },
): Promise<void> {
  await db.insertInto('authorization_codes').values({ ...code, consumed_at: null }).execute();
}

/**
 * Marks the code used and returns it, in one statement: of concurrent callers
 * with one code, exactly one gets the row.
 */
export function consumeCode(db: Executor, codeDigest: string, now: Date): Promise<AuthorizationCode | undefined> {
  return db
    .updateTable('authorization_codes')
    .set({ consumed_at: now })
    .where('code_digest', '=', codeDigest)
    .where('consumed_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export function findCode(db: Executor, codeDigest: string): Promise<AuthorizationCode | undefined> {
  return db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', codeDigest).executeTakeFirst();
}
