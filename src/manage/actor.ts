import type { Kysely } from 'kysely';
import type { AuditContext } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Client, Database } from '../db/schema.js';
import { OAuthError } from '../oauth/errors.js';

/**
 * Who asks the management layer to act: the operator at the command line, or a
 * signed-in user of the pages. One value decides what they may do and is what
 * the audit log records as the actor (a user's `id` and `name` are the audit
 * actor's columns).
 */
export type Actor = { kind: 'operator' } | UserActor;
export type UserActor = { kind: 'user'; id: string; name: string; isAdmin: boolean };

/** An actor and where they act from; it is the audit context of what they do. */
export interface Acting extends AuditContext {
  actor: Actor;
}

/** The operator at the command line: no address, no user agent. */
export { OPERATOR } from '../audit/events.js';

/** What every management function works with. */
export interface ManageDeps {
  db: Kysely<Database>;
  clock: Clock;
  config: Config;
}

/**
 * Administrators may decide on any app, see and change every app, and turn on
 * what RFC 9700 advises against. Whoever runs the command line already holds
 * the database, so the operator is one.
 */
export const administers = (actor: Actor): boolean => actor.kind === 'operator' || actor.isAdmin;

/** An app is managed by its owner and by administrators. */
export const mayManage = (actor: Actor, client: Pick<Client, 'owner_id'>): boolean =>
  administers(actor) || (actor.kind === 'user' && client.owner_id !== null && client.owner_id === actor.id);

/** The user rows name as having done it (a decision's decided_by); null for the operator. */
export const actingUserId = (actor: Actor): string | null => (actor.kind === 'user' ? actor.id : null);

/** The user whose apps and tokens alone `actor` may see; undefined when they may see everyone's. */
export const onlyOwnOf = (actor: Actor): string | undefined => (actor.kind === 'user' && !actor.isAdmin ? actor.id : undefined);

/** Refuses what only administrators may reach with the same 404 as an unknown page. */
export function requireAdministrator(actor: Actor): void {
  if (!administers(actor)) throw new OAuthError('not_found', 'No such page', { status: 404 });
}
