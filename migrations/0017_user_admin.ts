import type { Kysely } from 'kysely';

/**
 * User administration. A disabled user keeps their row (and the audit trail
 * that names them) but cannot sign in; `disabled_at` says since when.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('disabled_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('disabled_at').execute();
}
