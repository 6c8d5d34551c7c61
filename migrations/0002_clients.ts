import { sql, type Kysely } from 'kysely';

/** The channel every change to a client row is announced on; src/db/client-changes.ts listens. */
export const CLIENT_CHANGES_CHANNEL = 'latch_client_changes';

export async function up(db: Kysely<any>): Promise<void> {
  // RFC 7662 §4: introspecting other clients' tokens is a permission, off by default.
  await db.schema
    .alterTable('clients')
    .addColumn('may_introspect', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();

  // Every writer (any instance, the CLI, psql) announces the client it changed, in
  // the statement itself, so every instance's client cache can drop it at commit.
  await sql`
    create function latch_client_changed() returns trigger language plpgsql as $$
    begin
      perform pg_notify(${sql.lit(CLIENT_CHANGES_CHANNEL)}, old.client_id);
      if tg_op = 'UPDATE' and new.client_id <> old.client_id then
        perform pg_notify(${sql.lit(CLIENT_CHANGES_CHANNEL)}, new.client_id);
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger clients_changed after update or delete on clients
    for each row execute function latch_client_changed()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists clients_changed on clients`.execute(db);
  await sql`drop function if exists latch_client_changed()`.execute(db);
  await db.schema.alterTable('clients').dropColumn('may_introspect').execute();
}
