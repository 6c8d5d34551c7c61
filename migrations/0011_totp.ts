import { sql, type Kysely } from 'kysely';

/**
 * Two-step sign-in with TOTP. A user has at most one secret, sealed with
 * LATCH_KEY_SECRET; it is active only once confirmed with a code. Recovery
 * codes are kept as digests. A half-done sign-in (password right, code not
 * yet given) is a short-lived row, never a session.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('user_totp')
    .addColumn('user_id', 'uuid', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    // Null while enrolment waits for its first code.
    .addColumn('confirmed_at', 'timestamptz')
    // The time step of the last accepted code: only a later step is accepted (no replay).
    .addColumn('last_step', 'bigint', (c) => c.notNull().defaultTo(-1))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('recovery_codes')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_digest', 'text', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_digest'])
    .execute();
  await db.schema
    .createTable('pending_signins')
    .addColumn('id_digest', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('return_to', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await sql`create index pending_signins_expires on pending_signins (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pending_signins').ifExists().execute();
  await db.schema.dropTable('recovery_codes').ifExists().execute();
  await db.schema.dropTable('user_totp').ifExists().execute();
}
