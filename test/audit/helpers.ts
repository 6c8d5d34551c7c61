import { Writable } from 'node:stream';
import pino from 'pino';
import { sql } from 'kysely';
import { setAuditLog } from '../../src/audit/record.js';
import { REDACT_PATHS } from '../../src/logger.js';
import type { TestContext } from '../helpers/app.js';

/** The audit rows of `action`, oldest first. */
export function eventsOf(t: Pick<TestContext, 'db'>, action: string) {
  return t.db.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('id').execute();
}

/** The newest audit row of `action`. */
export async function lastEvent(t: Pick<TestContext, 'db'>, action: string) {
  const rows = await eventsOf(t, action);
  return rows[rows.length - 1];
}

/** Sends the audit log lines to a pino logger configured like the server's, and collects them parsed. */
export function captureAuditLog(): { lines: Array<Record<string, unknown>>; raw: string[] } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  setAuditLog(pino({ level: 'info', redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, stream));
  return {
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

/** Inserts `n` events in one statement, one second apart ending at `end`, alternating two users and actions. */
export async function insertMany(t: Pick<TestContext, 'db'>, n: number, end: Date, users: [string, string]) {
  await sql`
    insert into audit_events (at, actor_kind, actor_id, actor, action, target, target_user_id, address, outcome)
    select ${end}::timestamptz - (${n} - g) * interval '1 second', 'user',
           case when g % 2 = 0 then ${users[0]} else ${users[1]} end, 'bulk',
           case when g % 2 = 0 then 'signin.success' else 'signin.failure' end, 'bulk',
           (case when g % 2 = 0 then ${users[0]} else ${users[1]} end)::uuid, '192.0.2.' || (g % 250),
           case when g % 2 = 0 then 'success' else 'failure' end
    from generate_series(1, ${n}) as g`.execute(t.db);
}
