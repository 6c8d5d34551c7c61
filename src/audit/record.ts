import type { Executor } from '../store/executor.js';
import { insertAuditEvent } from '../store/audit.js';
import { afterCommit } from '../store/transaction.js';
import type { AuditAction, AuditActor, AuditContext, AuditOutcome } from './events.js';

/** What a call site says about an event; the context says who and from where. */
export interface AuditEvent extends AuditContext {
  action: AuditAction;
  /** Default: success. */
  outcome?: AuditOutcome;
  /** The user the event is about (a snapshot of the name, when given, is kept as the target text). */
  user?: { id: string; username?: string } | null;
  /** The app the event is about. */
  client?: { client_id: string } | null;
  /** Target text when the user and app name none, e.g. the username a failed sign-in tried. */
  target?: string | null;
  /** Extra facts; keys that name secrets and values that look like one are dropped. */
  details?: Record<string, unknown>;
  at: Date;
}

/** Where the structured line goes: pino's logger or anything with its `info`. */
export interface AuditLogSink {
  info(obj: object, msg: string): void;
}

let sink: AuditLogSink | null = null;

/** Set once at start by the server and the CLI; null turns the log line off (the row is still written). */
export function setAuditLog(log: AuditLogSink | null): void {
  sink = log;
}

export const MAX_USER_AGENT = 200;
const MAX_TARGET = 200;
const SECRET_KEY = /pass|secret|token|code|cookie|authorization|credential|otp|recovery|private|digest|hash|key$/i;
const SECRET_VALUE = /latch_[a-z]{2,3}_|^\$argon2|^eyJ[\w-]+\.[\w-]+\./;

/** `details` with every secret-looking key or value removed, nested objects included; bounded in size. */
export function scrubDetails(details: Record<string, unknown> | undefined, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details ?? {})) {
    if (SECRET_KEY.test(key) || value === undefined) continue;
    if (typeof value === 'string') {
      if (!SECRET_VALUE.test(value)) out[key] = value.slice(0, 1000);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      if (depth < 2) out[key] = scrubDetails(value as Record<string, unknown>, depth + 1);
    } else if (Array.isArray(value)) {
      out[key] = value.filter((v) => typeof v !== 'string' || !SECRET_VALUE.test(v)).slice(0, 50);
    } else {
      out[key] = value;
    }
  }
  return out;
}

const clip = (s: string | null | undefined, n: number) => (s ? s.slice(0, n) : null);

function actorColumns(actor: AuditActor) {
  switch (actor.kind) {
    case 'user':
      return { actor_kind: 'user' as const, actor_id: actor.id, actor: actor.name };
    case 'client':
      return { actor_kind: 'client' as const, actor_id: actor.clientId, actor: actor.clientId };
    default:
      return { actor_kind: actor.kind, actor_id: null, actor: actor.kind };
  }
}

/**
 * Writes one audit event with one INSERT on `db`: pass the transaction of the
 * change it records, so both happen or neither does. The structured log line
 * (`audit: true`) follows the commit, so a rolled-back change logs nothing.
 */
export async function recordAudit(db: Executor, event: AuditEvent): Promise<void> {
  const target = [event.user?.username, event.client?.client_id].filter(Boolean).join(' ') || event.target || null;
  const row = {
    at: event.at,
    ...actorColumns(event.actor),
    action: event.action,
    target: clip(target, MAX_TARGET),
    target_user_id: event.user?.id ?? null,
    target_client_id: event.client?.client_id ?? null,
    address: clip(event.address, 100),
    user_agent: clip(event.userAgent, MAX_USER_AGENT),
    outcome: event.outcome ?? 'success',
    details: scrubDetails(event.details),
  };
  await insertAuditEvent(db, { ...row, details: JSON.stringify(row.details) });
  const log = sink;
  if (log) afterCommit(db, () => log.info({ audit: true, ...row, at: row.at.toISOString() }, `audit ${row.action} ${row.outcome}`));
}
