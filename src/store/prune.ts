import { sql, type RawBuilder } from 'kysely';
import type { Executor } from './executor.js';

export interface PruneCounts {
  authorization_codes: number;
  device_codes: number;
  access_tokens: number;
  refresh_tokens: number;
  grants: number;
  sessions: number;
  login_attempts: number;
  mail_outbox: number;
  audit_events: number;
  signing_keys: number;
  pending_signins: number;
  account_links: number;
  registration_tokens: number;
}

/**
 * Rotated refresh tokens stay until they expire: a replay of one is how reuse is detected.
 * Deletes, in batches of `batch` rows each in its own short statement, what can
 * no longer be used: expired codes (authorization and device), tokens expired or revoked before `cutoff`,
 * grants left with no token, ended sessions and half-done sign-ins, used or
 * expired one-time links, used-up or expired initial access tokens, stale
 * sign-in counters, delivered mail and retired signing keys past their `delete_after`.
 */
export async function pruneExpired(
  db: Executor,
  now: Date,
  cutoff: Date,
  batch = 1000,
  /** Audit events older than this go too (LATCH_AUDIT_RETENTION); none when unset. */
  auditCutoff?: Date,
): Promise<PruneCounts> {
  const counts: PruneCounts = {
    authorization_codes: 0,
    device_codes: 0,
    access_tokens: 0,
    refresh_tokens: 0,
    grants: 0,
    sessions: 0,
    login_attempts: 0,
    mail_outbox: 0,
    audit_events: 0,
    signing_keys: 0,
    pending_signins: 0,
    account_links: 0,
    registration_tokens: 0,
  };
  const drain = async (table: keyof PruneCounts, key: string, where: ReturnType<typeof sql>, orderBy?: string) => {
    counts[table] += await deleteInBatches(db, table, key, where, batch, orderBy);
  };
  await drain('authorization_codes', 'code_digest', sql`expires_at < ${cutoff}`);
  await drain('device_codes', 'device_code_digest', sql`expires_at < ${cutoff}`);
  // Expired rows are found through the expires_at index, oldest first; revoked ones have no index
  // (one would cost every rotation a non-HOT update), so a walk along the primary key finds them.
  await drain('refresh_tokens', 'token_digest', sql`expires_at < ${cutoff}`, 'expires_at');
  counts.refresh_tokens += await deleteWalking(db, 'refresh_tokens', 'token_digest', sql`revoked_at < ${cutoff}`, batch);
  const unreferenced = sql`not exists (select 1 from refresh_tokens r where r.access_token_digest = access_tokens.token_digest)`;
  await drain('access_tokens', 'token_digest', sql`expires_at < ${cutoff} and ${unreferenced}`, 'expires_at');
  counts.access_tokens += await deleteWalking(db, 'access_tokens', 'token_digest', sql`revoked_at < ${cutoff} and ${unreferenced}`, batch);
  await drain(
    'grants',
    'id',
    sql`created_at < ${cutoff}
        and not exists (select 1 from access_tokens a where a.grant_id = grants.id)
        and not exists (select 1 from refresh_tokens r where r.grant_id = grants.id)`,
  );
  await drain('sessions', 'id_digest', sql`expires_at < ${now}`);
  // Half-done sign-ins (password right, second step never given) live five minutes.
  counts.pending_signins = await prunePendingSignins(db, now, batch);
  // Used and expired reset and verification links stay a day, for whoever asks why one did not work.
  await drain('account_links', 'token_digest', sql`expires_at < ${cutoff} or used_at < ${cutoff}`);
  // Initial access tokens record no time of their last use: a used-up one goes once it was
  // created before the cutoff, so it too stays at least a day for whoever asks why it was refused.
  await drain('registration_tokens', 'token_digest', sql`expires_at < ${cutoff} or (uses_left = 0 and created_at < ${cutoff})`);
  counts.login_attempts = await pruneLoginAttempts(db, now, cutoff, batch);
  // Sent and abandoned mail (bodies already gone) stays a day: the per-recipient bound counts it.
  await drain('mail_outbox', 'id', sql`sent_at < ${cutoff} or given_up_at < ${cutoff}`);
  if (auditCutoff) await drain('audit_events', 'id', sql`at < ${auditCutoff}`);
  // delete_after already holds the margin: the last token a retired key signed has expired.
  await drain('signing_keys', 'kid', sql`state = 'retired' and delete_after < ${now}`);
  return counts;
}

/** Deletes half-done sign-ins past their five minutes. */
export function prunePendingSignins(db: Executor, now: Date, batch = 1000): Promise<number> {
  return deleteInBatches(db, 'pending_signins', 'id_digest', sql`expires_at < ${now}`, batch);
}

/** Deletes sign-in and sign-up counters whose window began before `before` and that block nothing. */
export function pruneLoginAttempts(db: Executor, now: Date, before: Date, batch = 1000): Promise<number> {
  return deleteInBatches(db, 'login_attempts', 'key', sql`first_failure_at < ${before} and (blocked_until is null or blocked_until < ${now})`, batch);
}

/**
 * Deletes `batch` rows at a time, each batch its own short statement, until fewer are left.
 * `orderBy` names an indexed column the condition bounds: ordering by it makes the planner walk
 * that index instead of scanning the table from the start (where, with LIMIT, it would expect
 * to meet matching rows early; in a table of millions whose expired rows sit at the end, each
 * batch would read all the live ones first).
 */
async function deleteInBatches(
  db: Executor,
  table: keyof PruneCounts,
  key: string,
  where: ReturnType<typeof sql>,
  batch: number,
  orderBy?: string,
): Promise<number> {
  let total = 0;
  const order = orderBy ? sql`order by ${sql.ref(orderBy)}` : sql``;
  for (;;) {
    // A plain DELETE (not WITH … DELETE): both drivers report its row count.
    const result = await sql`
      delete from ${sql.table(table)}
      where ${sql.ref(key)} in (select ${sql.ref(key)} from ${sql.table(table)} where ${where} ${order} limit ${batch})`.execute(db);
    const n = Number(result.numAffectedRows ?? 0);
    total += n;
    if (n < batch) return total;
  }
}

/**
 * Deletes the rows matching `where` by walking the primary key in ranges of a few batches of keys:
 * each statement reads one range through the key's index, so none scans the table, however
 * large, and none holds row locks on more than a range.
 */
async function deleteWalking(db: Executor, table: keyof PruneCounts, key: string, where: ReturnType<typeof sql>, batch: number): Promise<number> {
  const step = batch * WALK_STEPS_PER_BATCH;
  let total = 0;
  let after: string | null = null;
  for (;;) {
    const from: RawBuilder<unknown> = after === null ? sql`true` : sql`${sql.ref(key)} > ${after}`;
    const edge: { rows: { last: string | null }[] } = await sql<{ last: string | null }>`
      select max(k) as last from (select ${sql.ref(key)} as k from ${sql.table(table)} where ${from} order by ${sql.ref(key)} limit ${step}) s`.execute(db);
    const last: string | null = edge.rows[0]?.last ?? null;
    if (last === null) return total;
    const result = await sql`delete from ${sql.table(table)} where ${from} and ${sql.ref(key)} <= ${last} and (${where})`.execute(db);
    total += Number(result.numAffectedRows ?? 0);
    after = last;
  }
}

/** Keys one walking statement covers, in batches: 5,000 by default, a few milliseconds of PostgreSQL's work. */
const WALK_STEPS_PER_BATCH = 5;
