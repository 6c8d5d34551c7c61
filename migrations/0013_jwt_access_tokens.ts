import { sql, type Kysely } from 'kysely';

/**
 * RFC 9068 and RFC 8707. A client chooses opaque or JWT access tokens and may
 * list the resources (audiences) its tokens may be for. The resources asked for
 * at /oauth/authorize are bound to the code and the grant it opens; each access
 * token records its own audience (a subset of the grant's), for introspection.
 * An empty list: not bound to any resource (the issuer is the audience).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('clients')
    .addColumn('access_token_format', 'text', (c) => c.notNull().defaultTo('opaque').check(sql`access_token_format in ('opaque', 'jwt')`))
    .addColumn('resources', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .execute();
  for (const table of ['authorization_codes', 'grants']) {
    await db.schema.alterTable(table).addColumn('resources', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`)).execute();
  }
  await db.schema.alterTable('access_tokens').addColumn('audience', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('access_tokens').dropColumn('audience').execute();
  for (const table of ['grants', 'authorization_codes']) {
    await db.schema.alterTable(table).dropColumn('resources').execute();
  }
  await db.schema.alterTable('clients').dropColumn('resources').dropColumn('access_token_format').execute();
}
