import type { Kysely } from 'kysely';
import type { Client, Database } from '../db/schema.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { OAuthError } from '../oauth/errors.js';
import * as clients from '../store/clients.js';
import { listPersonalTokens } from '../store/personal-tokens.js';
import { inTransaction } from '../store/transaction.js';
import {
  adminOnlyProblems,
  decideClient,
  registerClient,
  removeClient,
  rotateClientSecret,
  updateClientSettings,
  type ClientInput,
  type Decision,
  type RegisteredClient,
} from './clients.js';
import type { AuditContext } from '../audit/events.js';
import { createPersonalToken, endPersonalToken, type PersonalToken } from './personal-tokens.js';
import { ValidationError } from './validation.js';

/**
 * The developer console's and the approval page's actions. Each takes the
 * acting user and a client_id and first checks that the actor may manage that
 * app: its owner, or an administrator.
 */
export interface Actor {
  userId: string;
  isAdmin: boolean;
}

interface Deps {
  db: Kysely<Database>;
  clock: Clock;
  config: Config;
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

/** An app with what its page shows beside its settings. */
export async function appOverview(db: Kysely<Database>, actor: Actor, clientId: string) {
  const client = await findAppFor(db, actor, clientId);
  const [authorizedUsers, decisions, tokens] = await Promise.all([
    clients.countAuthorizedUsers(db, client.id),
    clients.listDecisions(db, client.id),
    // An administrator looking after someone's app sees every test token; an owner sees their own.
    listPersonalTokens(db, client.id, actor.isAdmin ? undefined : actor.userId),
  ]);
  return { client, authorizedUsers, decisions, tokens };
}

/** Refuses, by field, what `actor` may not turn on (see adminOnlyProblems); administrators may. */
function assertMayEnable(actor: Actor, before: Client | null, input: Partial<ClientInput>): void {
  if (actor.isAdmin) return;
  const problems = adminOnlyProblems(before, input);
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
}

/** Registers an app owned by the acting user. */
export async function registerApp({ db, clock, config }: Deps, actor: Actor, input: ClientInput, audit: AuditContext): Promise<RegisteredClient> {
  assertMayEnable(actor, null, input);
  return registerClient(db, clock, config, { ...input, ownerId: actor.userId }, audit);
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
 * Saves changes to an app's settings (its type stays as registered). Under
 * manual approval an owner cannot widen an approved app past what an
 * administrator saw: such an edit sends it back to pending, as does any edit of
 * a denied app (the owner's way to ask again). Administrators' edits change no
 * status. Returns the app before and after.
 */
export async function editApp(
  { db, clock, config }: Deps,
  actor: Actor,
  clientId: string,
  input: Omit<Partial<ClientInput>, 'confidential'>,
  audit: AuditContext,
): Promise<{ before: Client; after: Client }> {
  const before = await findAppFor(db, actor, clientId);
  assertMayEnable(actor, before, input);
  return inTransaction(db, async (trx) => {
    const updated = await updateClientSettings(trx, clock, config, before, input, audit);
    const review =
      config.appApproval === 'manual' &&
      !actor.isAdmin &&
      (before.status === 'denied' || (before.status === 'active' && needsReview(before, updated)));
    if (!review) return { before, after: updated };
    const after = await clients.updateClient(trx, before.client_id, { status: 'pending', status_reason: null }, clock.now());
    return { before, after: after! };
  });
}

/** A new secret, returned once; the old one stops working at once. */
export async function rotateAppSecret({ db, clock }: Deps, actor: Actor, clientId: string, audit: AuditContext) {
  const client = await findAppFor(db, actor, clientId);
  if (!client.is_confidential) throw new OAuthError('invalid_request', 'This app is public: it has no secret to rotate');
  return { client, secret: await rotateClientSecret(db, clock, client, audit) };
}

/** Deletes the app with everything it had (removeClient). */
export async function deleteApp({ db, clock }: Pick<Deps, 'db' | 'clock'>, actor: Actor, clientId: string, audit: AuditContext): Promise<void> {
  const client = await findAppFor(db, actor, clientId);
  await removeClient(db, clock, client, audit);
}

/** A test token bound to the acting user and the app; the token is returned once. */
export async function createTestToken(
  { db, clock, config }: Deps,
  actor: Actor,
  clientId: string,
  input: { scope: string[]; ttl: number | null; label: string | null },
): Promise<{ client: Client; token: PersonalToken }> {
  const client = await findAppFor(db, actor, clientId);
  if (client.status !== 'active') {
    throw new ValidationError({ token: `the app is ${client.status}; test tokens need an active app` });
  }
  return { client, token: await createPersonalToken(db, clock, config, { client, userId: actor.userId, ...input }) };
}

/** Ends one test token of the app; an id that is malformed, unknown or someone else's is a 404. */
export async function revokeTestToken({ db, clock }: Deps, actor: Actor, clientId: string, tokenId: string, audit: AuditContext): Promise<Client> {
  const client = await findAppFor(db, actor, clientId);
  if (!UUID.test(tokenId)) throw new OAuthError('not_found', 'No such token', { status: 404 });
  const revoked = await endPersonalToken(db, clock, client, tokenId, audit, actor.isAdmin ? undefined : actor.userId);
  if (!revoked) throw new OAuthError('not_found', 'No such live token', { status: 404 });
  return client;
}

/** Every app, grouped by status, for the administrators' page. */
export async function appsByStatus(db: Kysely<Database>) {
  const all = await clients.listClients(db);
  const group = (s: Client['status']) => all.filter((c) => c.status === s);
  return { pending: group('pending'), active: group('active'), suspended: group('suspended'), denied: group('denied') };
}

export const DECISIONS: readonly Decision[] = ['approve', 'deny', 'suspend', 'reinstate'];

/**
 * An administrator's decision on an app, recorded with who made it and when
 * (decideClient), applied only if the app is still at `version`, the one the
 * administrator's page showed.
 */
export async function decideApp(
  { db, clock }: Deps,
  admin: Actor,
  clientId: string,
  decision: string,
  reason: string | null,
  version: Date,
  audit: AuditContext,
): Promise<Client> {
  if (!admin.isAdmin || !(DECISIONS as readonly string[]).includes(decision)) throw new OAuthError('not_found', 'No such page', { status: 404 });
  const client = await findAppFor(db, admin, clientId);
  return decideClient(db, clock, client, decision as Decision, { userId: admin.userId, reason, version }, audit);
}
