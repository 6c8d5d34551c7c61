import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, Client, ClientStatus } from '../db/schema.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { digest, newClientId, newSecret, PREFIX } from '../crypto/secrets.js';
import { parseScope } from '../oauth/scopes.js';
import * as clients from '../store/clients.js';
import { revokeClientTokens } from '../store/grants.js';
import { inTransaction } from '../store/transaction.js';
import { OPERATOR, type AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { redirectUriProblem } from '../oauth/redirect-uris.js';
import { lifetimeProblem, ValidationError } from './validation.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'implicit'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
export const DEFAULT_GRANT_TYPES: GrantType[] = ['authorization_code', 'refresh_token'];
/**
 * Grants only an administrator may give a self-service app: RFC 9700 §2.4 says the
 * password grant MUST NOT be used, §2.1.2 that the implicit grant SHOULD NOT.
 */
export const ADMIN_ONLY_GRANTS: readonly GrantType[] = ['password', 'implicit'];
/** Grants that need the client to keep a secret. */
const CONFIDENTIAL_ONLY: GrantType[] = ['client_credentials', 'password'];

export interface ClientInput {
  name: string;
  description?: string;
  website?: string | null;
  redirectUris: string[];
  scopes?: string[];
  grantTypes?: string[];
  confidential?: boolean;
  skipConsent?: boolean;
  /** May introspect other clients' tokens (RFC 7662 §4): for resource servers. */
  mayIntrospect?: boolean;
  accessTokenTtl?: number | null;
  refreshTokenTtl?: number | null;
}

interface ValidClient {
  name: string;
  description: string;
  website: string | null;
  redirect_uris: string[];
  scopes: string[];
  grant_types: GrantType[];
  skip_consent: boolean;
  may_introspect: boolean;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
}

/** Checks a registration; throws ValidationError naming each bad field. */
export function validateClient(config: Config, input: ClientInput, confidential: boolean): ValidClient {
  const problems: Record<string, string> = {};
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100) problems.name = 'must be 1-100 characters';
  const description = (input.description ?? '').trim();
  if (description.length > 1000) problems.description = 'must be at most 1000 characters';
  let website: string | null = input.website?.trim() || null;
  if (website) {
    try {
      const u = new URL(website);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.website = 'must be an http(s) URL';
    } catch {
      problems.website = 'must be an absolute URL';
    }
  }
  const redirectUris = [...new Set(input.redirectUris.map((u) => u.trim()).filter((u) => u.length > 0))];
  const grantTypes = [...new Set(input.grantTypes ?? DEFAULT_GRANT_TYPES)];
  const needsRedirect = grantTypes.includes('authorization_code') || grantTypes.includes('implicit');
  if (needsRedirect && redirectUris.length === 0) {
    problems.redirect_uris = 'at least one is needed for the authorization_code and implicit grants';
  } else if (redirectUris.length > 20) {
    problems.redirect_uris = 'at most 20 are allowed';
  } else {
    for (const uri of redirectUris) {
      const p = redirectUriProblem(uri);
      if (p) {
        problems.redirect_uris = `${uri} ${p}`;
        break;
      }
    }
  }
  const scopes = input.scopes ? [...new Set(input.scopes)] : [...config.scopes];
  const unknown = scopes.filter((s) => !config.scopes.includes(s));
  if (unknown.length > 0) problems.scopes = `unknown scope ${unknown.join(', ')}; known: ${config.scopes.join(' ')}`;
  else if (scopes.length === 0) problems.scopes = 'choose at least one';
  const badGrant = grantTypes.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (badGrant.length > 0) problems.grant_types = `unknown grant type ${badGrant.join(', ')}; known: ${GRANT_TYPES.join(', ')}`;
  else if (grantTypes.length === 0) problems.grant_types = 'choose at least one';
  else if (!confidential) {
    const forbidden = grantTypes.filter((g) => CONFIDENTIAL_ONLY.includes(g as GrantType));
    if (forbidden.length > 0) problems.grant_types = `public clients cannot use ${forbidden.join(' or ')}`;
  }
  for (const [field, value] of [
    ['access_token_ttl', input.accessTokenTtl],
    ['refresh_token_ttl', input.refreshTokenTtl],
  ] as const) {
    const problem = value === undefined || value === null ? null : lifetimeProblem(value);
    if (problem) problems[field] = problem;
  }
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  return {
    name,
    description,
    website,
    redirect_uris: redirectUris,
    scopes,
    grant_types: grantTypes as GrantType[],
    skip_consent: input.skipConsent ?? false,
    may_introspect: input.mayIntrospect ?? false,
    access_token_ttl: input.accessTokenTtl ?? null,
    refresh_token_ttl: input.refreshTokenTtl ?? null,
  };
}

/**
 * What only an administrator may turn on, by field: the grants above and the
 * introspection permission. Turning them off, or keeping what an administrator
 * gave, is anyone's to do. `before` is null for a new registration.
 */
export function adminOnlyProblems(
  before: Pick<Client, 'grant_types' | 'may_introspect'> | null,
  input: Pick<ClientInput, 'grantTypes' | 'mayIntrospect'>,
): Record<string, string> {
  const problems: Record<string, string> = {};
  const had = before?.grant_types ?? [];
  const added = (input.grantTypes ?? []).filter((g) => (ADMIN_ONLY_GRANTS as readonly string[]).includes(g) && !had.includes(g));
  if (added.length > 0) {
    problems.grant_types = `only an administrator can enable the ${added.join(' and ')} grant${added.length > 1 ? 's' : ''} (RFC 9700 advises against them)`;
  }
  if (input.mayIntrospect === true && !before?.may_introspect) {
    problems.may_introspect = "only an administrator can let an app introspect other apps' tokens";
  }
  return problems;
}

export interface RegisteredClient {
  client: Client;
  /** Shown once; only its digest is stored. Null for public clients. */
  secret: string | null;
}

export async function registerClient(
  db: Kysely<Database>,
  clock: Clock,
  config: Config,
  input: ClientInput & { ownerId?: string | null },
  audit: AuditContext = OPERATOR,
): Promise<RegisteredClient> {
  const confidential = input.confidential ?? true;
  const valid = validateClient(config, input, confidential);
  const secret = confidential ? newSecret(PREFIX.clientSecret) : null;
  const now = clock.now();
  const status: ClientStatus = config.appApproval === 'manual' ? 'pending' : 'active';
  const client = await inTransaction(db, async (trx) => {
    const inserted = await clients.insertClient(trx, {
      id: randomUUID(),
      client_id: newClientId(),
      secret_digest: secret ? digest(secret) : null,
      ...valid,
      owner_id: input.ownerId ?? null,
      status,
      status_reason: null,
      is_confidential: confidential,
      created_at: now,
      updated_at: now,
    });
    await recordAudit(trx, { ...audit, at: now, action: 'client.create', client: inserted, details: { name: inserted.name, status } });
    return inserted;
  });
  return { client, secret };
}

export async function updateClientSettings(
  db: Kysely<Database>,
  clock: Clock,
  config: Config,
  client: Client,
  input: Partial<ClientInput>,
  audit: AuditContext = OPERATOR,
): Promise<Client> {
  const valid = validateClient(
    config,
    {
      name: input.name ?? client.name,
      description: input.description ?? client.description,
      website: input.website !== undefined ? input.website : client.website,
      redirectUris: input.redirectUris ?? client.redirect_uris,
      scopes: input.scopes ?? client.scopes,
      grantTypes: input.grantTypes ?? client.grant_types,
      skipConsent: input.skipConsent ?? client.skip_consent,
      mayIntrospect: input.mayIntrospect ?? client.may_introspect,
      accessTokenTtl: input.accessTokenTtl !== undefined ? input.accessTokenTtl : client.access_token_ttl,
      refreshTokenTtl: input.refreshTokenTtl !== undefined ? input.refreshTokenTtl : client.refresh_token_ttl,
    },
    client.is_confidential,
  );
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    const updated = await clients.updateClient(trx, client.client_id, valid, now);
    if (!updated) throw new ValidationError({ client: 'no longer exists' });
    await recordAudit(trx, { ...audit, at: now, action: 'client.update', client, details: { changed: changedSettings(client, updated) } });
    return updated;
  });
}

/** The names of the settings an update changed (never their values: a name is enough to answer "who changed what"). */
function changedSettings(before: Client, after: Client): string[] {
  const keys = ['name', 'description', 'website', 'redirect_uris', 'scopes', 'grant_types', 'skip_consent', 'access_token_ttl', 'refresh_token_ttl'] as const;
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** A new secret replaces the old one at once; returns it to be shown once. */
export async function rotateClientSecret(db: Kysely<Database>, clock: Clock, client: Client, audit: AuditContext = OPERATOR): Promise<string> {
  if (!client.is_confidential) throw new ValidationError({ client: 'is public and has no secret' });
  const secret = newSecret(PREFIX.clientSecret);
  const now = clock.now();
  await inTransaction(db, async (trx) => {
    await clients.updateClient(trx, client.client_id, { secret_digest: digest(secret) }, now);
    await recordAudit(trx, { ...audit, at: now, action: 'client.rotate_secret', client });
  });
  return secret;
}

/** Deletes a client; the foreign keys' cascade ends every code, grant, token and consent it had. */
export async function removeClient(db: Kysely<Database>, clock: Clock, client: Client, audit: AuditContext = OPERATOR): Promise<void> {
  await inTransaction(db, async (trx) => {
    await clients.deleteClient(trx, client.client_id);
    await recordAudit(trx, { ...audit, at: clock.now(), action: 'client.delete', client, details: { name: client.name } });
  });
}

export type Decision = 'approve' | 'deny' | 'suspend' | 'reinstate';

const NEXT_STATUS: Record<Decision, { from: ClientStatus[]; to: ClientStatus }> = {
  approve: { from: ['pending', 'denied'], to: 'active' },
  deny: { from: ['pending'], to: 'denied' },
  suspend: { from: ['active', 'pending'], to: 'suspended' },
  reinstate: { from: ['suspended', 'denied'], to: 'active' },
};

/**
 * Applies an administrator's decision, records who made it and when, and ends
 * the client's live tokens when it stops being active.
 */
/** Refused decision: the app is not what the administrator reviewed. */
export class ClientChangedError extends ValidationError {
  constructor() {
    super({ version: 'this app changed since the page was loaded; review it again below and decide then' });
  }
}

/** The version of a client's settings a page shows, carried back by its forms. */
export const clientVersion = (client: Pick<Client, 'updated_at'>): string => String(client.updated_at.getTime());

export function parseClientVersion(value: unknown): Date | undefined {
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? new Date(Number(value)) : undefined;
}

export async function decideClient(
  db: Kysely<Database>,
  clock: Clock,
  client: Client,
  decision: Decision,
  /** version: what the administrator reviewed; the decision applies only to that (the CLI acts on the current state). */
  by: { userId: string | null; reason?: string | null; version?: Date },
  audit: AuditContext = OPERATOR,
): Promise<Client> {
  if (by.version && by.version.getTime() !== client.updated_at.getTime()) throw new ClientChangedError();
  const rule = NEXT_STATUS[decision];
  if (!rule.from.includes(client.status)) {
    throw new ValidationError({ status: `cannot ${decision} a client that is ${client.status}` });
  }
  const reason = by.reason?.trim() || null;
  if (decision === 'deny' && !reason) throw new ValidationError({ reason: 'say why, so the owner knows what to fix' });
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    const updated = await clients.updateClient(trx, client.client_id, { status: rule.to, status_reason: reason }, now, by.version);
    if (!updated) throw by.version ? new ClientChangedError() : new ValidationError({ client: 'no longer exists' });
    await clients.recordDecision(trx, { client_id: client.id, decision, reason, decided_by: by.userId, decided_at: now });
    if (rule.to !== 'active') await revokeClientTokens(trx, client.id, now);
    await recordAudit(trx, { ...audit, at: now, action: `client.${decision}`, client, details: { from: client.status, to: rule.to, reason } });
    return updated;
  });
}

export function parseScopeList(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : parseScope(value.replace(/,/g, ' '));
}
