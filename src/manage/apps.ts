import type { Kysely } from 'kysely';
import type { Client, Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { OAuthError } from '../oauth/errors.js';
import * as clients from '../store/clients.js';
import { listPersonalTokens, revokePersonalToken } from '../store/tokens.js';
import { inTransaction } from '../store/transaction.js';
import { updateClientSettings, type ClientInput } from './clients.js';
import { createPersonalToken, type PersonalToken } from './personal-tokens.js';
import { ValidationError } from './validation.js';

/** Who is acting in the console: an app's owner, or an administrator, may manage it. */
export interface Actor {
  userId: string;
  isAdmin: boolean;
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,200}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The same answer for "no such app" and "not yours", so probing client_ids
 * reveals nothing about apps that belong to others.
 */
const noSuchApp = () => new OAuthError('not_found', 'No such app', { status: 404 });

export const mayManage = (actor: Actor, client: Pick<Client, 'owner_id'>): boolean =>
  actor.isAdmin || (client.owner_id !== null && client.owner_id === actor.userId);

/** The app `clientId` if `actor` may manage it; otherwise a 404. */
export async function findAppFor(db: Kysely<Database>, actor: Actor, clientId: string): Promise<clients.ClientWithOwner> {
  if (!CLIENT_ID.test(clientId)) throw noSuchApp();
  const client = await clients.findClientWithOwner(db, clientId);
  if (!client || !mayManage(actor, client)) throw noSuchApp();
  return client;
}

export function listMyApps(db: Kysely<Database>, actor: Actor) {
  return clients.listClients(db, { ownerId: actor.userId });
}

/** What the app's page shows beside its settings. */
export async function appOverview(db: Kysely<Database>, actor: Actor, client: Client) {
  const [authorizedUsers, decisions, tokens] = await Promise.all([
    clients.countAuthorizedUsers(db, client.id),
    clients.listDecisions(db, client.id),
    // An administrator looking after someone's app sees every test token; an owner sees their own.
    listPersonalTokens(db, client.id, actor.isAdmin ? undefined : actor.userId),
  ]);
  return { authorizedUsers, decisions, tokens };
}

/**
 * What an administrator looked at when approving: a new name (the consent page
 * shows it), and any redirect URI, scope or grant type the app did not have.
 * Narrowing any of them needs no new look.
 */
export function needsReview(before: Client, after: Client): boolean {
  const added = (was: string[], now: string[]) => now.some((v) => !was.includes(v));
  return (
    before.name !== after.name ||
    added(before.redirect_uris, after.redirect_uris) ||
    added(before.scopes, after.scopes) ||
    added(before.grant_types, after.grant_types)
  );
}

/**
 * Saves an owner's changes. Under manual approval an owner cannot widen an
 * approved app past what an administrator saw: such an edit sends it back to
 * pending, as does any edit of a denied app (the owner's way to ask again).
 * Administrators' own edits change no status.
 */
export async function editApp(
  db: Kysely<Database>,
  clock: Clock,
  config: Config,
  actor: Actor,
  client: Client,
  input: Partial<ClientInput>,
): Promise<Client> {
  return inTransaction(db, async (trx) => {
    const updated = await updateClientSettings(trx, clock, config, client, input);
    const review =
      config.appApproval === 'manual' &&
      !actor.isAdmin &&
      (client.status === 'denied' || (client.status === 'active' && needsReview(client, updated)));
    if (!review) return updated;
    return (await clients.updateClient(trx, client.client_id, { status: 'pending', status_reason: null }, clock.now()))!;
  });
}

/** A test token bound to the acting user and the app; the token is returned once. */
export async function createTestToken(
  db: Kysely<Database>,
  clock: Clock,
  config: Config,
  actor: Actor,
  client: Client,
  input: { scope: string[]; ttl: number | null; label: string | null },
): Promise<PersonalToken> {
  if (client.status !== 'active') {
    throw new ValidationError({ token: `the app is ${client.status}; test tokens need an active app` });
  }
  return createPersonalToken(db, clock, config, { client, userId: actor.userId, ...input });
}

/** Ends one test token of the app; an id that is malformed, unknown or someone else's is a 404. */
export async function revokeTestToken(db: Kysely<Database>, clock: Clock, actor: Actor, client: Client, tokenId: string): Promise<void> {
  if (!UUID.test(tokenId)) throw new OAuthError('not_found', 'No such token', { status: 404 });
  const revoked = await revokePersonalToken(db, client.id, tokenId, clock.now(), actor.isAdmin ? undefined : actor.userId);
  if (!revoked) throw new OAuthError('not_found', 'No such live token', { status: 404 });
}

/** Deletes the app; the foreign keys' cascade ends every code, grant, token and consent it had. */
export async function deleteApp(db: Kysely<Database>, client: Client): Promise<void> {
  await clients.deleteClient(db, client.client_id);
}

/** Every app, grouped by status, for the administrators' page. */
export async function appsByStatus(db: Kysely<Database>) {
  const all = await clients.listClients(db);
  const group = (s: Client['status']) => all.filter((c) => c.status === s);
  return { pending: group('pending'), active: group('active'), suspended: group('suspended'), denied: group('denied') };
}
