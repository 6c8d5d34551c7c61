import { sql, type Kysely } from 'kysely';

/**
 * One-time links mailed (or printed) to a user: password reset and e-mail
 * verification. Only the token's digest is kept; a link is used by one
 * statement that sets `used_at`, so two uses cannot both succeed. A
 * verification link names the address it verifies: changing the address
 * makes the link worthless. Sessions learn where they were made and when they
 * were last seen, for the list on /account/security.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('account_links')
    .addColumn('token_digest', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('password_reset', 'email_verification')`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await sql`create index account_links_user on account_links (user_id, purpose)`.execute(db);
  await sql`create index account_links_expires on account_links (expires_at)`.execute(db);

  await db.schema
    .alterTable('sessions')
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('address', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await sql`update sessions set last_seen_at = created_at`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('last_seen_at').dropColumn('address').dropColumn('user_agent').execute();
  await db.schema.dropTable('account_links').ifExists().execute();
}
