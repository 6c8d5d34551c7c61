import type { Client, ClientStatus } from '../../db/schema.js';
import { OAuthError } from '../../oauth/errors.js';
import * as clients from '../../store/clients.js';
import { listPersonalTokens } from '../../store/personal-tokens.js';
import { mayManage, onlyOwnOf, requireAdministrator, type Actor, type ManageDeps } from '../actor.js';

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
