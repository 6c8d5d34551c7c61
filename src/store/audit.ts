import { sql } from 'kysely';
import type { AuditEventsTable } from '../db/schema.js';
import type { Insertable, Selectable } from 'kysely';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';

/** Every column but the id, each given (null where it does not apply); `details` as JSON text. */
export type NewAuditRow = Required<Omit<Insertable<AuditEventsTable>, 'id'>>;

export async function insertAuditEvent(db: Executor, row: NewAuditRow): Promise<void> {
  await runCompiled(db, INSERT_AUDIT_EVENT, [
    row.at, row.actor_kind, row.actor_id, row.actor, row.action, row.target,
    row.target_user_id, row.target_client_id, row.address, row.user_agent, row.outcome, row.details,
  ]);
}

// Written once as text: every sign-in writes one (a named statement, see compiled.ts).
const INSERT_AUDIT_EVENT = `
  insert into audit_events (at, actor_kind, actor_id, actor, action, target, target_user_id, target_client_id, address, user_agent, outcome, details)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`;

/** A position in the newest-first order: the (at, id) of the last row shown, at in microseconds. */
export interface AuditCursor {
  atMicros: bigint;
  id: bigint;
}

export interface AuditQuery {
  /** Events by or about this user id. */
  userId?: string;
  /** Events about this app (client_id). */
  clientId?: string;
  actions?: readonly string[];
  since?: Date;
  until?: Date;
  after?: AuditCursor;
  limit: number;
}

/** A stored event as listings read it: ids as text, `at` also in microseconds, for the cursor. */
export type AuditRow = Omit<Selectable<AuditEventsTable>, 'id' | 'details'> & {
  id: string;
  at_micros: string;
  details: Record<string, unknown>;
};

const fromMicros = (micros: bigint) => sql`(timestamptz 'epoch' + ${micros.toString()}::bigint * interval '1 microsecond')`;

/**
 * Events newest first, ordered by (at, id) so a page that starts after a cursor
 * neither repeats nor skips rows when others are written in between. Every
 * filter value is a bound parameter.
 */
export async function listAuditEvents(db: Executor, q: AuditQuery): Promise<AuditRow[]> {
  let query = db
    .selectFrom('audit_events')
    .select([
      sql<string>`id::text`.as('id'),
      'at',
      sql<string>`((extract(epoch from at) * 1000000)::bigint)::text`.as('at_micros'),
      'actor_kind',
      'actor_id',
      'actor',
      'action',
      'target',
      sql<string | null>`target_user_id::text`.as('target_user_id'),
      'target_client_id',
      'address',
      'user_agent',
      'outcome',
      'details',
    ]);
  if (q.userId) {
    const id = q.userId;
    query = query.where((eb) => eb.or([eb('target_user_id', '=', id), eb('actor_id', '=', id)]));
  }
  if (q.clientId) query = query.where('target_client_id', '=', q.clientId);
  if (q.actions && q.actions.length > 0) query = query.where('action', 'in', [...q.actions]);
  if (q.since) query = query.where('at', '>=', q.since);
  if (q.until) query = query.where('at', '<', q.until);
  if (q.after) {
    const { atMicros, id } = q.after;
    query = query.where(sql<boolean>`(at, id) < (${fromMicros(atMicros)}, ${id.toString()}::bigint)`);
  }
  return (await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit).execute()) as AuditRow[];
}
