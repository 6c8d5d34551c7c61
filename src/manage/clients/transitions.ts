import type { ClientStatus } from '../../db/schema.js';

/**
 * An administrator's decisions on an app: from which statuses each may be made
 * and the status it leads to. The approval page's buttons, the management
 * layer's checks and the command line's help all read this table.
 *
 * A denied app is approved (its owner fixed what the reason said), not
 * reinstated: reinstating undoes a suspension.
 */
export const TRANSITIONS = {
  approve: { from: ['pending', 'denied'], to: 'active', reason: 'optional', note: '' },
  // The owner reads the reason to know what to fix.
  deny: { from: ['pending'], to: 'denied', reason: 'required', note: 'The owner sees the reason.' },
  suspend: { from: ['pending', 'active'], to: 'suspended', reason: 'optional', note: 'Ends its live tokens at once.' },
  reinstate: { from: ['suspended'], to: 'active', reason: 'optional', note: '' },
} as const satisfies Record<string, { from: readonly ClientStatus[]; to: ClientStatus; reason: 'required' | 'optional'; note: string }>;

export const CLIENT_STATUSES: readonly ClientStatus[] = ['pending', 'active', 'suspended', 'denied'];

export type AppDecision = keyof typeof TRANSITIONS;

export const APP_DECISIONS = Object.keys(TRANSITIONS) as AppDecision[];

export const isAppDecision = (value: string): value is AppDecision => Object.hasOwn(TRANSITIONS, value);

/** The decisions an app in `status` offers, in the table's order. */
export const decisionsFrom = (status: ClientStatus): AppDecision[] =>
  APP_DECISIONS.filter((d) => (TRANSITIONS[d].from as readonly ClientStatus[]).includes(status));

/** Why `decision` cannot be made on an app in `status`, or null when the table allows it. */
export function transitionProblem(decision: AppDecision, status: ClientStatus): string | null {
  return decisionsFrom(status).includes(decision) ? null : `cannot ${decision} a client that is ${status}`;
}

/** One line saying what a decision does, for help texts: "Makes a pending or denied client active." */
export function describeDecision(decision: AppDecision): string {
  const { from, to, reason, note } = TRANSITIONS[decision];
  return `Makes a ${from.join(' or ')} client ${to}.${reason === 'required' ? ' A reason is required.' : ''}${note ? ` ${note}` : ''}`;
}
