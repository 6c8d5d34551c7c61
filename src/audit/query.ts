import type { Clock } from '../clock.js';
import { epochSeconds } from '../clock.js';
import { ValidationError } from '../manage/validation.js';
import { listAuditEvents, type AuditCursor, type AuditRow } from '../store/audit.js';
import type { Executor } from '../store/executor.js';
import { findUserByUsername } from '../store/users.js';
import { actionsMatching, AUDIT_SUBJECTS } from './events.js';

/** The filters as typed into the page's form or given to `latch audit`; every one optional. */
export interface AuditFilterInput {
  user?: string;
  client?: string;
  action?: string;
  since?: string;
  until?: string;
  /** The cursor of the page before: where this one starts. */
  after?: string;
  limit?: string;
}

export const MAX_AUDIT_LIMIT = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,255}$/;
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,200}$/;
const CURSOR = /^(\d{1,19})_(\d{1,19})$/;
const RELATIVE = /^(\d{1,9})([smhd])$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * A point in time: epoch seconds, an age (`30m`, `24h`, `7d`: that long before
 * now), a date (`2030-01-31`, UTC) or a date and time (`2030-01-31T12:00`,
 * UTC unless it names a zone). A date alone as the end of a range means the
 * end of that day, so "from 1 to 1 January" is the whole day.
 */
export function parseTime(value: string, now: Date, end = false): Date | null {
  const v = value.trim();
  let at: number;
  const rel = RELATIVE.exec(v);
  if (/^\d{1,11}$/.test(v)) at = Number(v) * 1000;
  else if (rel) at = now.getTime() - Number(rel[1]) * UNIT_SECONDS[rel[2] as keyof typeof UNIT_SECONDS] * 1000;
  else if (DATE_ONLY.test(v)) at = Date.parse(`${v}T00:00:00Z`) + (end ? 86400_000 : 0);
  else if (DATE_TIME.test(v)) at = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(v) ? v : `${v}Z`);
  else return null;
  return Number.isFinite(at) && at >= 0 ? new Date(at) : null;
}

export const encodeCursor = (row: Pick<AuditRow, 'at_micros' | 'id'>): string => `${row.at_micros}_${row.id}`;

function decodeCursor(value: string): AuditCursor | null {
  const m = CURSOR.exec(value);
  return m ? { atMicros: BigInt(m[1]!), id: BigInt(m[2]!) } : null;
}

const TIME_HELP = 'expected epoch seconds, an age like 30m, 24h or 7d, a date (2030-01-31) or a date and time (2030-01-31T12:00)';

export interface AuditPage {
  events: AuditRow[];
  /** The cursor for the next (older) page; null on the last one. */
  next: string | null;
}

/**
 * Validates the filters (every problem a ValidationError naming the field) and
 * reads one page of events, newest first. Input only ever becomes bound
 * parameters; the action filter becomes the list of known actions it selects.
 */
export async function findAuditEvents(db: Executor, clock: Clock, input: AuditFilterInput, defaultLimit: number): Promise<AuditPage> {
  const problems: Record<string, string> = {};
  const now = clock.now();
  const user = input.user?.trim() || undefined;
  const client = input.client?.trim() || undefined;
  const action = input.action?.trim() || undefined;
  if (user && !UUID.test(user) && !USERNAME.test(user)) problems.user = 'expected a username or a user id';
  if (client && !CLIENT_ID.test(client)) problems.client = 'expected a client_id';
  const actions = action ? actionsMatching(action) : undefined;
  if (actions === null) problems.action = `expected an action such as signin.failure, or a group such as ${AUDIT_SUBJECTS.slice(0, 3).map((s) => `${s}.`).join(', ')}`;
  const since = input.since?.trim() ? parseTime(input.since, now) : undefined;
  if (since === null) problems.since = TIME_HELP;
  const until = input.until?.trim() ? parseTime(input.until, now, true) : undefined;
  if (until === null) problems.until = TIME_HELP;
  if (since && until && since >= until) problems.until = 'must be after the start of the range';
  const after = input.after ? decodeCursor(input.after) : undefined;
  if (after === null) problems.after = 'is not a page cursor';
  const limit = input.limit === undefined ? defaultLimit : /^\d{1,4}$/.test(input.limit) ? Number(input.limit) : NaN;
  if (!(limit >= 1 && limit <= MAX_AUDIT_LIMIT)) problems.limit = `expected a whole number from 1 to ${MAX_AUDIT_LIMIT}`;
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);

  let userId: string | undefined;
  if (user) {
    userId = UUID.test(user) ? user.toLowerCase() : (await findUserByUsername(db, user))?.id;
    if (!userId) throw new ValidationError({ user: `no user named "${user}"; a deleted user's events are found by their id` });
  }
  // One row more than asked tells whether there is a next page.
  const rows = await listAuditEvents(db, {
    userId,
    clientId: client,
    actions: actions ?? undefined,
    since: since ?? undefined,
    until: until ?? undefined,
    after: after ?? undefined,
    limit: limit + 1,
  });
  const events = rows.slice(0, limit);
  return { events, next: rows.length > limit ? encodeCursor(events[events.length - 1]!) : null };
}

/** An event as `--json` and DESIGN.md show it: `at` in epoch seconds. */
export function auditEventJson(e: AuditRow) {
  return {
    id: e.id,
    at: epochSeconds(e.at),
    actor: e.actor,
    actor_kind: e.actor_kind,
    actor_id: e.actor_id,
    action: e.action,
    target: e.target,
    target_user_id: e.target_user_id,
    target_client_id: e.target_client_id,
    address: e.address,
    user_agent: e.user_agent,
    outcome: e.outcome,
    details: e.details,
  };
}
