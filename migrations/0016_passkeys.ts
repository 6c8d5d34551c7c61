import { sql, type Kysely } from 'kysely';

/**
 * Passkeys (WebAuthn credentials). A credential's public key is public: it is
 * kept in clear. A WebAuthn challenge is a short-lived row keyed by the digest
 * of a random id the browser holds in a signed cookie: single use (taken by a
 * delete) and bound to that browser.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('passkeys')
    // The credential id, base64url, as the authenticator returns it.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // The COSE public key, base64url.
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'boolean', (c) => c.notNull())
    .addColumn('transports', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await sql`create index passkeys_user on passkeys (user_id)`.execute(db);
  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('id_digest', 'text', (c) => c.primaryKey())
    // 'register' (a signed-in user adding a passkey) or 'signin'.
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('challenge', 'text', (c) => c.notNull())
    // Where a sign-in goes next (an /oauth/authorize request, say); null when adding a passkey.
    .addColumn('return_to', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await sql`create index webauthn_challenges_expires on webauthn_challenges (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webauthn_challenges').ifExists().execute();
  await db.schema.dropTable('passkeys').ifExists().execute();
}
