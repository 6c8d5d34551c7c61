import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openEmbedded } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrations } from '../../migrations/index.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { PROCESS_TEST_MS } from '../helpers/server.js';

const TABLES = [
  'access_tokens',
  'account_links',
  'audit_events',
  'authorization_codes',
  'client_decisions',
  'client_registrations',
  'clients',
  'consents',
  'device_codes',
  'grants',
  'login_attempts',
  'mail_outbox',
  'passkeys',
  'pending_signins',
  'recovery_codes',
  'refresh_tokens',
  'registration_tokens',
  'sessions',
  'signing_keys',
  'user_totp',
  'users',
  'webauthn_challenges',
];

async function tablesOf(db: TestDatabase['db']) {
  const r = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name not like 'kysely_%' order by table_name`.execute(db);
  return r.rows.map((x) => x.table_name);
}

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await testDatabase();
  });
  afterAll(() => t.close());

  it('create every table on this run\'s database, and a second run applies nothing', async () => {
    expect(await tablesOf(t.db)).toEqual(TABLES);
    expect(await migrateToLatest(t.db)).toEqual([]);
  });

  it('store timestamps as timestamptz', async () => {
    const r = await sql<{ data_type: string }>`
      select distinct data_type from information_schema.columns
      where table_schema = 'public' and table_name not like 'kysely_%' and column_name like '%\\_at'`.execute(t.db);
    expect(r.rows.map((x) => x.data_type)).toEqual(['timestamp with time zone']);
  });

  it('keep token digests unique', async () => {
    const r = await sql<{ indexdef: string }>`select indexdef from pg_indexes where tablename in ('access_tokens','refresh_tokens','authorization_codes') and indexdef like '%UNIQUE%'`.execute(t.db);
    const defs = r.rows.map((x) => x.indexdef).join('\n');
    expect(defs).toMatch(/access_tokens.*\(token_digest\)/);
    expect(defs).toMatch(/refresh_tokens.*\(token_digest\)/);
    expect(defs).toMatch(/authorization_codes.*\(code_digest\)/);
  });

  it('cascade a client\'s deletion to its tokens', async () => {
    const r = await sql<{ table_name: string; delete_rule: string }>`
      select tc.table_name, rc.delete_rule
      from information_schema.referential_constraints rc
      join information_schema.table_constraints tc on tc.constraint_name = rc.constraint_name
      join information_schema.key_column_usage k on k.constraint_name = rc.constraint_name
      where k.column_name = 'client_id' order by tc.table_name`.execute(t.db);
    expect(r.rows.every((x) => x.delete_rule === 'CASCADE')).toBe(true);
    expect(r.rows.map((x) => x.table_name)).toEqual(
      expect.arrayContaining(['access_tokens', 'authorization_codes', 'consents', 'grants', 'refresh_tokens']),
    );
  });

  // initdb from scratch: many seconds of CPU, far more on a busy machine.
  it('run from scratch on embedded PGlite as well', { timeout: PROCESS_TEST_MS }, async () => {
    const fresh = await openEmbedded(null);
    try {
      const results = await migrateToLatest(fresh.db);
      expect(results.map((r) => [r.migrationName, r.status])).toEqual(Object.keys(migrations).map((name) => [name, 'Success']));
      expect(await tablesOf(fresh.db)).toEqual(TABLES);
    } finally {
      await fresh.close();
    }
  });
});
