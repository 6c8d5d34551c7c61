import { sql, type Kysely } from 'kysely';

/**
 * Signing keys: next → current → retired, per algorithm. The first keys are
 * created when the server starts (sealing them needs LATCH_KEY_SECRET, which
 * migrations do not have), before it serves anything.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull().check(sql`alg in ('RS256', 'ES256', 'EdDSA')`))
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('next', 'current', 'retired')`))
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('activated_at', 'timestamptz')
    .addColumn('retired_at', 'timestamptz')
    .addColumn('delete_after', 'timestamptz')
    .addCheckConstraint('signing_keys_current_activated', sql`state = 'next' or activated_at is not null`)
    .addCheckConstraint('signing_keys_retired_dated', sql`state <> 'retired' or (retired_at is not null and delete_after is not null)`)
    .execute();
  // At most one current and one next key per algorithm: racing instances cannot create a second.
  await sql`create unique index signing_keys_one_current on signing_keys (alg) where state = 'current'`.execute(db);
  await sql`create unique index signing_keys_one_next on signing_keys (alg) where state = 'next'`.execute(db);
  await sql`create index signing_keys_delete_after on signing_keys (delete_after) where state = 'retired'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('signing_keys').execute();
}
