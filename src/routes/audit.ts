import type { FastifyPluginAsync } from 'fastify';
import { findAuditEvents, type AuditFilterInput } from '../audit/query.js';
import { AUDIT_ACTIONS, AUDIT_SUBJECTS } from '../audit/events.js';
import { ValidationError } from '../manage/validation.js';
import { consolePage } from '../web/console-page.js';
import { requireAdmin } from '../web/guards.js';

export const AUDIT_PATH = '/admin/audit';
const PAGE_SIZE = 50;
/** The form's field names, and the filter each one sets. */
const FIELDS = { user: 'user', app: 'client', action: 'action', from: 'since', to: 'until', after: 'after' } as const;
type Field = keyof typeof FIELDS;

/** `/admin/audit`: the audit log for administrators, filtered by a GET form, a page of 50 at a time. */
export const auditRoutes: FastifyPluginAsync = async (app) => {
  const { db, clock } = app.deps;

  app.get(AUDIT_PATH, { preHandler: requireAdmin, config: { page: true } }, async (request, reply) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const form: Partial<Record<Field, string>> = {};
    const problems: Record<string, string> = {};
    for (const field of Object.keys(FIELDS) as Field[]) {
      const value = query[field];
      if (typeof value === 'string' && value.length <= 300) form[field] = value;
      else if (value !== undefined) problems[field] = 'give it once, at most 300 characters';
    }
    const filters: AuditFilterInput = {};
    for (const field of Object.keys(form) as Field[]) filters[FIELDS[field]] = form[field];
    const view = { title: 'Audit log', form, actions: AUDIT_ACTIONS, groups: AUDIT_SUBJECTS.map((s) => `${s}.`), events: [] as unknown[], next: null as string | null };
    try {
      if (Object.keys(problems).length > 0) throw new ValidationError(problems);
      const page = await findAuditEvents(db, clock, filters, PAGE_SIZE);
      const { after: _first, ...kept } = form;
      const next = page.next ? `${AUDIT_PATH}?${new URLSearchParams({ ...kept, after: page.next } as Record<string, string>)}` : null;
      const first = form.after ? `${AUDIT_PATH}?${new URLSearchParams(kept as Record<string, string>)}` : null;
      return consolePage(request, reply, 'admin/audit', { ...view, events: page.events, next, first });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const error = Object.entries(err.fields).map(([f, m]) => `${labelOf(f)}: ${m}`).join('; ');
      return consolePage(request, reply, 'admin/audit', { ...view, error }, 400);
    }
  });
};

/** The form's name for a filter, so messages name the field the admin sees. */
function labelOf(filter: string): string {
  return (Object.keys(FIELDS) as Field[]).find((f) => FIELDS[f] === filter || f === filter) ?? filter;
}
