import { sql } from 'kysely';
import type { AuditEventsTable } from '../db/schema.js';
import type { Insertable, Selectable } from 'kysely';
import type { Executor } from './executor.js';

export type NewAuditRow = Insertable<AuditEventsTable>;

export async function insertAuditEvent(db: Executor, row: NewAuditRow): Promise<void> {
  await db.insertInto('audit_events').values(row).execute();
}

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
