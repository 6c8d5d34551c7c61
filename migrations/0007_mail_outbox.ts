import { sql, type Kysely } from 'kysely';

/**
 * The outbox latch's e-mail waits in until a sender delivers it (src/mail/).
 * Bodies hold one-time links, so they exist only while the mail is pending:
 * the check below makes a sent or abandoned row without them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mail_outbox')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text')
    .addColumn('html_body', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    // A mail carrying a link that expires is not worth sending after it.
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz')
    .addColumn('given_up_at', 'timestamptz')
    .addCheckConstraint(
      'mail_outbox_bodies_only_while_pending',
      sql`(sent_at is null and given_up_at is null) = (text_body is not null and html_body is not null)
          and (text_body is null) = (html_body is null)`,
    )
    .execute();
  await sql`create index mail_outbox_due on mail_outbox (next_attempt_at) where sent_at is null and given_up_at is null`.execute(db);
  await sql`create index mail_outbox_recipient on mail_outbox (lower(recipient), created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mail_outbox').execute();
}
