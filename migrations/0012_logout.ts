import { sql, type Kysely } from 'kysely';

/**
 * Logout (OpenID Connect RP-Initiated and Back-Channel Logout 1.0): where a
 * client may send the browser after signing out, and where it hears that a
 * session it signed in to has ended. Grants and codes are looked up by the
 * session's `sid` when it ends, so they are indexed by it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('clients')
    .addColumn('post_logout_redirect_uris', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('backchannel_logout_uri', 'text')
    .execute();
  await sql`create index grants_sid on grants (sid) where sid is not null`.execute(db);
  await sql`create index authorization_codes_sid on authorization_codes (sid) where sid is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists authorization_codes_sid`.execute(db);
  await sql`drop index if exists grants_sid`.execute(db);
  await db.schema.alterTable('clients').dropColumn('backchannel_logout_uri').dropColumn('post_logout_redirect_uris').execute();
}
