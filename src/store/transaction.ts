import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Executor } from './executor.js';

/** Work waiting for a transaction inTransaction opened to commit. */
const pending = new WeakMap<Transaction<Database>, Array<() => void>>();

/**
 * Runs `fn` in one transaction, or inside the caller's when `db` already is one,
 * so a failure leaves nothing half-written.
 */
export async function inTransaction<T>(db: Executor, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<Database>);
  let opened: Transaction<Database> | undefined;
  const result = await (db as Kysely<Database>).transaction().execute((trx) => {
    opened = trx;
    pending.set(trx, []);
    return fn(trx);
  });
  for (const run of pending.get(opened!) ?? []) run();
  return result;
}

/**
 * Runs `run` once `db`'s changes are committed: at once outside a transaction,
 * after the commit inside one inTransaction opened, never if it rolls back
 * (nor inside a transaction opened some other way, which cannot say when it commits).
 */
export function afterCommit(db: Executor, run: () => void): void {
  const queue = db.isTransaction ? pending.get(db as Transaction<Database>) : undefined;
  if (queue) queue.push(run);
  else if (!db.isTransaction) run();
}
