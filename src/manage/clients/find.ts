import type { Client, ClientStatus } from '../../db/schema.js';
import { OAuthError } from '../../oauth/errors.js';
import * as clients from '../../store/clients.js';
import { listPersonalTokens } from '../../store/personal-tokens.js';
import { mayManage, onlyOwnOf, requireAdministrator, type Actor, type ManageDeps } from '../actor.js';
import { ValidationError } from '../validation.js';

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,200}$/;

/**
 * A user gets the same answer for "no such app" and "not yours", so probing
 * client_ids reveals nothing about others' apps. The operator may see every
 * app, so naming the id they typed hides nothing.
 */
function noSuchClient(actor: Actor, clientId: string): OAuthError {
  return new OAuthError('not_found', actor.kind === 'operator' ? `no client with client_id "${clientId}"` : 'No such app', { status: 404 });
}

/** The app `clientId`, with its owner's name, if `actor` may manage it; otherwise a 404. */
export async function findClientFor({ db }: Pick<ManageDeps, 'db'>, actor: Actor, clientId: string): Promise<clients.ClientWithOwner> {
  const client = CLIENT_ID.test(clientId) ? await clients.findClientWithOwner(db, clientId) : undefined;
  if (!client || !mayManage(actor, client)) throw noSuchClient(actor, clientId);
  return client;
}

/** Apps `actor` may manage, filtered; a user who is not an administrator sees only their own. */
export function listClientsFor({ db }: Pick<ManageDeps, 'db'>, actor: Actor, filter: { ownerId?: string; status?: ClientStatus } = {}) {
  return clients.listClients(db, { ...filter, ownerId: onlyOwnOf(actor) ?? filter.ownerId });
}

/** Every app, grouped by status, for the administrators' page. */
export async function clientsByStatus(deps: Pick<ManageDeps, 'db'>, actor: Actor): Promise<Record<ClientStatus, clients.ClientWithOwner[]>> {
  requireAdministrator(actor);
  const all = await listClientsFor(deps, actor);
  const group = (s: Client['status']) => all.filter((c) => c.status === s);
  return { pending: group('pending'), active: group('active'), suspended: group('suspended'), denied: group('denied') };
}

/**
 * An app with what its page and `client show` tell beside its settings. An
 * administrator looking after someone's app sees every test token; an owner
 * sees their own.
 */
export async function clientOverview(deps: Pick<ManageDeps, 'db'>, actor: Actor, clientId: string) {
  const client = await findClientFor(deps, actor, clientId);
  const [authorizedUsers, decisions, tokens] = await Promise.all([
    clients.countAuthorizedUsers(deps.db, client.id),
    clients.listDecisions(deps.db, client.id),
    listPersonalTokens(deps.db, client.id, onlyOwnOf(actor)),
  ]);
  return { client, authorizedUsers, decisions, tokens };
}

export const APPROVAL_PAGE_SIZE = 50;
const STATUSES: ClientStatus[] = ['pending', 'active', 'suspended', 'denied'];
const APP_CURSOR = /^(\d{1,19})_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export interface ApprovalSection {
  items: clients.ClientWithOwner[];
  /** Apps of this status in all. */
  count: number;
  /** The cursor of the section's next page; null on its last. */
  next: string | null;
}

/**
 * The administrators' page of apps, by status, oldest first: every status's
 * first page, or, with `status` (and `after`, a cursor from a "more" link),
 * one status's page alone. Bad parameters are a ValidationError naming them.
 */
export async function appApprovalPage(
  { db }: Pick<ManageDeps, 'db'>,
  actor: Actor,
  input: { status?: string; after?: string },
  pageSize = APPROVAL_PAGE_SIZE,
): Promise<{ only: ClientStatus | null; sections: Partial<Record<ClientStatus, ApprovalSection>> }> {
  requireAdministrator(actor);
  const problems: Record<string, string> = {};
  const only = input.status === undefined || input.status === '' ? null : (STATUSES as string[]).includes(input.status) ? (input.status as ClientStatus) : undefined;
  if (only === undefined) problems.status = `expected ${STATUSES.join(', ')}`;
  const m = input.after ? APP_CURSOR.exec(input.after) : undefined;
  if (m === null) problems.after = 'is not a page cursor';
  else if (m && !only) problems.after = 'needs a status';
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  const after = m ? { createdMicros: BigInt(m[1]!), id: m[2]! } : undefined;
  const counts = await clients.countClientsByStatus(db);
  const sections: Partial<Record<ClientStatus, ApprovalSection>> = {};
  for (const status of only ? [only] : STATUSES) {
    const rows = await clients.listClientsPage(db, { status, after, limit: pageSize + 1 });
    const items = rows.slice(0, pageSize);
    const last = items[items.length - 1];
    sections[status] = { items, count: counts[status], next: rows.length > pageSize && last ? `${last.created_micros}_${last.id}` : null };
  }
  return { only: only ?? null, sections };
}
