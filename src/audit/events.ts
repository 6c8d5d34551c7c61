/**
 * Every action the audit log records, dotted as `<subject>.<verb>`. Filters
 * accept one of these, or a subject followed by a dot (`signin.`) for all of
 * its verbs. Add new actions here; nothing else needs to know the list.
 */
export const AUDIT_ACTIONS = [
  'signin.success',
  'signin.failure',
  'signout',
  'client.create',
  'client.register',
  'client.update',
  'client.approve',
  'client.deny',
  'client.suspend',
  'client.reinstate',
  'client.delete',
  'client.rotate_secret',
  'consent.grant',
  'consent.revoke',
  'token.revoke',
  'user.create',
  'user.update',
  'user.disable',
  'user.enable',
  'user.delete',
  'user.admin_grant',
  'user.admin_revoke',
  'password.change',
  'password.reset_request',
  'password.reset',
  'email.change',
  'email.verify',
  'mfa.enable',
  'mfa.disable',
  'mfa.reset',
  'passkey.add',
  'passkey.remove',
  'key.rotate',
  'registration.token_create',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditOutcome = 'success' | 'failure';

/** Who did it: a signed-in user (id and a snapshot of the name), the operator at the CLI, nobody known, or an app. */
export type AuditActor =
  | { kind: 'user'; id: string; name: string }
  | { kind: 'operator' }
  | { kind: 'anonymous' }
  | { kind: 'client'; clientId: string };

/** Where an event came from; routes build it from the request, the CLI uses OPERATOR. */
export interface AuditContext {
  actor: AuditActor;
  address: string | null;
  userAgent: string | null;
}

/** Typed as exactly the operator, so it is also the management layer's operator (src/manage/actor.ts). */
export const OPERATOR = { actor: { kind: 'operator' as const }, address: null, userAgent: null } satisfies AuditContext;
export const ANONYMOUS: AuditContext = { actor: { kind: 'anonymous' }, address: null, userAgent: null };

/** Subjects ("signin", "client", ...), for prefix filters. */
export const AUDIT_SUBJECTS = [...new Set(AUDIT_ACTIONS.map((a) => a.split('.')[0]!))];

/** The actions an action filter selects: an exact action, or every action of a subject given as `subject.`; null when unknown. */
export function actionsMatching(filter: string): AuditAction[] | null {
  if ((AUDIT_ACTIONS as readonly string[]).includes(filter)) return [filter as AuditAction];
  if (!filter.endsWith('.')) return null;
  const subject = filter.slice(0, -1);
  const matched = AUDIT_ACTIONS.filter((a) => a === subject || a.startsWith(filter));
  return matched.length > 0 ? matched : null;
}
