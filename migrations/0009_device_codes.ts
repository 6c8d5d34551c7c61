import { sql, type Kysely } from 'kysely';

/**
 * Device authorization requests (RFC 8628). Both codes are secrets and kept as
 * SHA-256 digests only. A row is pending until the user allows (user_id set) or
 * denies it; consumed_at marks the one poll that received tokens.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('device_codes')
    .addColumn('device_code_digest', 'text', (c) => c.primaryKey())
    .addColumn('user_code_digest', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'uuid', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'approved', 'denied')`))
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_polled_at', 'timestamptz')
    .addColumn('consumed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('device_codes_expires').on('device_codes').column('expires_at').execute();
  await db.schema.createIndex('device_codes_client').on('device_codes').column('client_id').execute();
  await db.schema.createIndex('device_codes_user').on('device_codes').column('user_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('device_codes').ifExists().execute();
}
