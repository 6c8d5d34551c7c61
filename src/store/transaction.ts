import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Executor } from './executor.js';

/**
 * Runs `fn` in one transaction, or inside the caller's when `db` already is one,
 * so a failure leaves nothing half-written.
 */
export function inTransaction<T>(db: Executor, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<Database>);
  return (db as Kysely<Database>).transaction().execute(fn);
}
