import type { AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import type { Clock } from '../clock.js';
import type { Executor } from '../store/executor.js';
import { listLiveSessionsOfUser } from '../store/sessions.js';
import { endSessionsOfUser, type Session, type SessionEndDeps } from './sessions.js';

/** One line of the session list on /account/security. */
export interface SessionLine {
  sid: string;
  current: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  address: string | null;
  userAgent: string | null;
  amr: string[];
}

/** The signed-in user's live sessions, the one asking first. */
export async function sessionsOf(deps: { db: Executor; clock: Clock }, session: Pick<Session, 'userId' | 'idDigest'>): Promise<SessionLine[]> {
  const rows = await listLiveSessionsOfUser(deps.db, session.userId, deps.clock.now());
  const lines = rows.map((r) => ({
    sid: r.sid,
    current: r.id_digest === session.idDigest,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at ?? r.created_at,
    address: r.address,
    userAgent: r.user_agent,
    amr: r.amr,
  }));
  return [...lines.filter((l) => l.current), ...lines.filter((l) => !l.current)];
}

/**
 * Signs the user out of other sessions: one (by its public id) or all but
 * the one asking, through endSessionsOfUser (the one path, with whatever must
 * follow a session's end). Returns how many ended.
 */
export async function endOtherSessions(
  deps: SessionEndDeps & { clock: Clock },
  session: Pick<Session, 'userId' | 'username' | 'idDigest'>,
  which: { sid: string } | 'all',
  audit: AuditContext,
): Promise<number> {
  const ended = await endSessionsOfUser(deps, session.userId, which === 'all' ? { exceptIdDigest: session.idDigest } : { exceptIdDigest: session.idDigest, onlySid: which.sid });
  if (ended.length > 0) {
    await recordAudit(deps.db, {
      ...audit,
      at: deps.clock.now(),
      action: 'signout',
      user: { id: session.userId, username: session.username },
      details: { sessions: ended.length, scope: which === 'all' ? 'others' : 'one' },
    });
  }
  return ended.length;
}

/** A user agent as a few words a person recognises ("Firefox on Linux"), the full string kept for a tooltip. */
export function describeUserAgent(agent: string | null): string {
  if (!agent) return 'Unknown browser';
  const browser =
    /Edg\//.test(agent) ? 'Edge'
    : /OPR\//.test(agent) ? 'Opera'
    : /Firefox\//.test(agent) ? 'Firefox'
    : /Chrom(e|ium)\//.test(agent) ? 'Chrome'
    : /Safari\//.test(agent) ? 'Safari'
    : /^curl\//.test(agent) ? 'curl'
    : null;
  const system =
    /Android/.test(agent) ? 'Android'
    : /iPhone|iPad/.test(agent) ? 'iOS'
    : /Windows/.test(agent) ? 'Windows'
    : /Mac OS X|Macintosh/.test(agent) ? 'macOS'
    : /Linux/.test(agent) ? 'Linux'
    : null;
  if (!browser) return agent.length > 60 ? `${agent.slice(0, 59)}…` : agent;
  return system ? `${browser} on ${system}` : browser;
}
