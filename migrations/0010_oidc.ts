import { sql, type Kysely } from 'kysely';

/**
 * OpenID Connect: what an ID token states about the sign-in behind a grant.
 * The session knows when and how the user authenticated and has a public id
 * (`sid`, never the cookie's secret); the code carries that, with the request's
 * nonce, to the grant it opens, so a refresh can state it again (without the
 * nonce, OIDC Core 1.0 §12.2 with its errata). Clients choose how their ID
 * tokens are signed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Nothing verifies an address yet: every existing one is unverified.
  await db.schema.alterTable('users').addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false)).execute();

  await db.schema
    .alterTable('sessions')
    .addColumn('auth_time', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('amr', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{pwd}'::text[]`))
    // Random and public: sent to relying parties, so it must not be (or lead to) the cookie.
    .addColumn('sid', 'text', (c) => c.notNull().defaultTo(sql`gen_random_uuid()::text`))
    .execute();
  // A live session signed in when it was created.
  await sql`update sessions set auth_time = created_at`.execute(db);
  await sql`create unique index sessions_sid on sessions (sid)`.execute(db);

  for (const table of ['authorization_codes', 'grants']) {
    await db.schema
      .alterTable(table)
      .addColumn('auth_time', 'timestamptz')
      .addColumn('sid', 'text')
      .addColumn('amr', sql`text[]`)
      .execute();
  }
  await db.schema.alterTable('authorization_codes').addColumn('nonce', 'text').execute();

  await db.schema
    .alterTable('clients')
    .addColumn('id_token_alg', 'text', (c) => c.notNull().defaultTo('RS256').check(sql`id_token_alg in ('RS256', 'ES256', 'EdDSA')`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('id_token_alg').execute();
  await db.schema.alterTable('authorization_codes').dropColumn('nonce').execute();
  for (const table of ['grants', 'authorization_codes']) {
    await db.schema.alterTable(table).dropColumn('amr').dropColumn('sid').dropColumn('auth_time').execute();
  }
  await sql`drop index if exists sessions_sid`.execute(db);
  await db.schema.alterTable('sessions').dropColumn('sid').dropColumn('amr').dropColumn('auth_time').execute();
  await db.schema.alterTable('users').dropColumn('email_verified').execute();
}
