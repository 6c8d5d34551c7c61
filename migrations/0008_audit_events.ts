import { sql, type Kysely } from 'kysely';

/**
 * The audit log. Targets are kept as ids without foreign keys, and as text, so
 * an event outlives the user or app it names.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull().check(sql`actor_kind in ('user', 'operator', 'anonymous', 'client')`))
    // The user's id or the app's client_id; null for the operator and anonymous.
    .addColumn('actor_id', 'text')
    // A snapshot: the username (or client_id) at the time, so renames and deletions keep it readable.
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('target_user_id', 'uuid')
    .addColumn('target_client_id', 'text')
    .addColumn('address', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('success', 'failure')`))
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  // Every listing reads newest first by (at, id); each filter has its own such index.
  await db.schema.createIndex('audit_events_at').on('audit_events').columns(['at', 'id']).execute();
  await db.schema.createIndex('audit_events_target_user').on('audit_events').columns(['target_user_id', 'at', 'id']).execute();
  await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor_id', 'at', 'id']).execute();
  await db.schema.createIndex('audit_events_target_client').on('audit_events').columns(['target_client_id', 'at', 'id']).execute();
  await db.schema.createIndex('audit_events_action').on('audit_events').columns(['action', 'at', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_events').ifExists().execute();
}
