import { sql, type Kysely } from 'kysely';

/**
 * Dynamic client registration (RFC 7591, RFC 7592). A client that registered
 * itself has a row in client_registrations: that row is what marks it as
 * registered, holds the digest of its registration access token, and keeps the
 * metadata latch stores but does not act on (logo_uri, contacts, software_id…).
 * Initial access tokens (LATCH_REGISTRATION=token) are digests with a count of
 * uses left, decremented in the statement that checks it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('client_registrations')
    .addColumn('client_id', 'uuid', (c) => c.primaryKey().references('clients.id').onDelete('cascade'))
    .addColumn('access_token_digest', 'text', (c) => c.notNull().unique())
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('address', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('registration_tokens')
    .addColumn('token_digest', 'text', (c) => c.primaryKey())
    .addColumn('uses_left', 'integer', (c) => c.notNull().check(sql`uses_left >= 0`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('registration_tokens_expires').on('registration_tokens').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('registration_tokens').ifExists().execute();
  await db.schema.dropTable('client_registrations').ifExists().execute();
}
