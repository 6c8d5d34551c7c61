import { randomUUID } from 'node:crypto';
import type { Client, ClientStatus, NewClient } from '../../db/schema.js';
import { digest, newClientId, newSecret, PREFIX } from '../../crypto/secrets.js';
import { OAuthError } from '../../oauth/errors.js';
import * as clients from '../../store/clients.js';
import { inTransaction } from '../../store/transaction.js';
import { recordAudit } from '../../audit/record.js';
import { administers, type Acting, type Actor, type ManageDeps } from '../actor.js';
import { ValidationError } from '../validation.js';
import { findClientFor } from './find.js';
import { adminOnlyProblems, changedSettings, editNeedsApproval, validateClient, type ClientInput } from './settings.js';

export interface RegisteredClient {
  client: Client;
  /** Shown once; only its digest is stored. Null for public clients. */
  secret: string | null;
}

/** Refuses, by field, what `actor` may not turn on (see adminOnlyProblems); administrators may. */
function assertMayEnable(actor: Actor, before: Client | null, input: Partial<ClientInput>): void {
  if (administers(actor)) return;
  const problems = adminOnlyProblems(before, input);
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
}

/**
 * Registers an app. A user owns what they register; the operator names the
 * owner, or none. Under LATCH_APP_APPROVAL=manual every new app starts pending,
 * whoever registers it: approving it is a decision of its own, recorded as one.
 */
export async function registerClient(
  { db, clock, config }: ManageDeps,
  by: Acting,
  input: ClientInput & { ownerId?: string | null },
): Promise<RegisteredClient> {
  assertMayEnable(by.actor, null, input);
  const confidential = input.confidential ?? true;
  const { row, secret } = newClientRow({ clock, config }, validateClient(config, input, confidential), confidential, by.actor.kind === 'user' ? by.actor.id : (input.ownerId ?? null));
  const client = await inTransaction(db, async (trx) => {
    const inserted = await clients.insertClient(trx, row);
    await recordAudit(trx, { ...by, at: row.created_at!, action: 'client.create', client: inserted, details: { name: inserted.name, status: row.status } });
    return inserted;
  });
  return { client, secret };
}

/**
 * A new app's row from validated settings, with its secret (shown once, kept as
 * a digest; none for public apps). Under LATCH_APP_APPROVAL=manual every new
 * app starts pending, however it was registered.
 */
export function newClientRow(
  { clock, config }: Pick<ManageDeps, 'clock' | 'config'>,
  valid: ReturnType<typeof validateClient>,
  confidential: boolean,
  ownerId: string | null,
): { row: NewClient; secret: string | null } {
  const secret = confidential ? newSecret(PREFIX.clientSecret) : null;
  const now = clock.now();
  const status: ClientStatus = config.appApproval === 'manual' ? 'pending' : 'active';
  return {
    secret,
    row: {
      id: randomUUID(),
      client_id: newClientId(),
      secret_digest: secret ? digest(secret) : null,
      ...valid,
      owner_id: ownerId,
      status,
      status_reason: null,
      is_confidential: confidential,
      created_at: now,
      updated_at: now,
    },
  };
}

/**
 * Saves changes to an app's settings (its type stays as registered). Under
 * manual approval an owner cannot widen an approved app past what an
 * administrator saw (needsReview): such an edit sends it back to pending, as
 * does any owner's edit of a denied app (their way to ask again). An
 * administrator's edit, at the command line or on the pages, changes no status.
 */
export async function editClient(
  { db, clock, config }: ManageDeps,
  by: Acting,
  clientId: string,
  input: Omit<Partial<ClientInput>, 'confidential'>,
): Promise<{ before: clients.ClientWithOwner; after: Client }> {
  const before = await findClientFor({ db }, by.actor, clientId);
  assertMayEnable(by.actor, before, input);
  const valid = validateClient(
    config,
    {
      name: input.name ?? before.name,
      description: input.description ?? before.description,
      website: input.website !== undefined ? input.website : before.website,
      redirectUris: input.redirectUris ?? before.redirect_uris,
      scopes: input.scopes ?? before.scopes,
      grantTypes: input.grantTypes ?? before.grant_types,
      skipConsent: input.skipConsent ?? before.skip_consent,
      mayIntrospect: input.mayIntrospect ?? before.may_introspect,
      accessTokenTtl: input.accessTokenTtl !== undefined ? input.accessTokenTtl : before.access_token_ttl,
      refreshTokenTtl: input.refreshTokenTtl !== undefined ? input.refreshTokenTtl : before.refresh_token_ttl,
      postLogoutRedirectUris: input.postLogoutRedirectUris ?? before.post_logout_redirect_uris,
      backchannelLogoutUri: input.backchannelLogoutUri !== undefined ? input.backchannelLogoutUri : before.backchannel_logout_uri,
      idTokenAlg: input.idTokenAlg ?? before.id_token_alg,
      accessTokenFormat: input.accessTokenFormat ?? before.access_token_format,
      resources: input.resources ?? before.resources,
    },
    before.is_confidential,
  );
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    const updated = await clients.updateClient(trx, before.client_id, valid, now);
    if (!updated) throw new ValidationError({ client: 'no longer exists' });
    const review = !administers(by.actor) && editNeedsApproval(config, before, updated);
    const after = review ? (await clients.updateClient(trx, before.client_id, { status: 'pending', status_reason: null }, now))! : updated;
    await recordAudit(trx, {
      ...by,
      at: now,
      action: 'client.update',
      client: before,
      details: { changed: changedSettings(before, updated), ...(review ? { from: before.status, to: after.status } : {}) },
    });
    return { before, after };
  });
}

/** A new secret replaces the old one at once; returned to be shown once. */
export async function rotateClientSecret({ db, clock }: ManageDeps, by: Acting, clientId: string): Promise<{ client: Client; secret: string }> {
  const client = await findClientFor({ db }, by.actor, clientId);
  if (!client.is_confidential) throw new OAuthError('invalid_request', 'This app is public: it has no secret to rotate');
  const secret = newSecret(PREFIX.clientSecret);
  const now = clock.now();
  await inTransaction(db, async (trx) => {
    await clients.updateClient(trx, client.client_id, { secret_digest: digest(secret) }, now);
    await recordAudit(trx, { ...by, at: now, action: 'client.rotate_secret', client });
  });
  return { client, secret };
}

/** Deletes an app; the foreign keys' cascade ends every code, grant, token and consent it had. */
export async function deleteClient({ db, clock }: ManageDeps, by: Acting, clientId: string): Promise<Client> {
  const client = await findClientFor({ db }, by.actor, clientId);
  await inTransaction(db, async (trx) => {
    await clients.deleteClient(trx, client.client_id);
    await recordAudit(trx, { ...by, at: clock.now(), action: 'client.delete', client, details: { name: client.name } });
  });
  return client;
}
