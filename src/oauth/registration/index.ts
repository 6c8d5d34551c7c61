import type { Kysely } from 'kysely';
import type { AuditContext } from '../../audit/events.js';
import { recordAudit } from '../../audit/record.js';
import type { Clock } from '../../clock.js';
import { addSeconds, epochSeconds } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Client, Database } from '../../db/schema.js';
import { digest, newSecret, PREFIX } from '../../crypto/secrets.js';
import { admitRegistration } from '../../accounts/throttle.js';
import { adminOnlyProblems, changedSettings, editNeedsApproval, newClientRow, validateClient } from '../../manage/clients/index.js';
import { lifetimeProblem, ValidationError } from '../../manage/validation.js';
import * as clients from '../../store/clients.js';
import * as registrations from '../../store/registrations.js';
import { inTransaction } from '../../store/transaction.js';
import { bearerError } from '../bearer.js';
import { OAuthError } from '../errors.js';
import { clientInformation, readClientMetadata, registrationError, type RequestedClient } from './metadata.js';

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592): who
 * may register (LATCH_REGISTRATION), and the registration access token that
 * alone may read, replace or delete what was registered. A registered client
 * has no owner; administrators manage it like any other app.
 */

export interface RegistrationDeps {
  db: Kysely<Database>;
  clock: Clock;
  config: Config;
}

/** Where a request comes from: its address (throttling) and the audit context. */
export interface Requester {
  ip: string;
  audit: AuditContext;
  authorization: string | undefined;
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The bearer token of an Authorization header, or the RFC 6750 error for its absence or shape. */
function bearerToken(authorization: string | undefined, what: string): string {
  if (!authorization || !/^bearer\b/i.test(authorization)) {
    throw new OAuthError('unauthorized', `${what} is required: Authorization: Bearer <token>`, { headers: { 'www-authenticate': 'Bearer realm="latch"' } });
  }
  const m = BEARER.exec(authorization);
  if (!m || m[1]!.length > 512) throw bearerError('invalid_request', 'The Authorization header is malformed');
  return m[1]!;
}

/** Every rule an app's settings follow, with the registration's own: the RFC 7591 error on the first that fails. */
function validate(config: Config, requested: RequestedClient, before: Client | null) {
  let valid: ReturnType<typeof validateClient>;
  try {
    const notYours = adminOnlyProblems(before, { grantTypes: requested.input.grantTypes });
    if (Object.keys(notYours).length > 0) throw new ValidationError(notYours);
    valid = validateClient(config, requested.input, requested.confidential);
  } catch (err) {
    if (err instanceof ValidationError) throw registrationError(err);
    throw err;
  }
  return valid;
}

/**
 * POST /oauth/register. Throttled per address before anything else is read;
 * under `token`, the initial access token is checked before the metadata and
 * spent in the transaction that creates the client, so a refused registration
 * costs no use and two cannot share the last one.
 */
export async function registerClient(deps: RegistrationDeps, from: Requester, body: unknown) {
  const { db, clock, config } = deps;
  if (config.registration === 'closed') {
    throw new OAuthError('access_denied', 'Dynamic client registration is closed on this server', { status: 403 });
  }
  await admitRegistration(db, clock, from.ip);
  let initialDigest: string | null = null;
  if (config.registration === 'token') {
    initialDigest = digest(bearerToken(from.authorization, 'An initial access token'));
    if (!(await registrations.registrationTokenIsLive(db, initialDigest, clock.now()))) {
      throw bearerError('invalid_token', 'The initial access token is invalid, used up or expired');
    }
  }
  const requested = readClientMetadata(config, body);
  const valid = validate(config, requested, null);
  const { row, secret } = newClientRow(deps, valid, requested.confidential, null);
  const accessToken = newSecret(PREFIX.registrationAccessToken);
  const client = await inTransaction(db, async (trx) => {
    if (initialDigest && !(await registrations.spendRegistrationToken(trx, initialDigest, row.created_at!))) {
      throw bearerError('invalid_token', 'The initial access token is invalid, used up or expired');
    }
    const inserted = await clients.insertClient(trx, row);
    await registrations.insertRegistration(trx, {
      client_id: inserted.id,
      access_token_digest: digest(accessToken),
      metadata: requested.metadata,
      address: from.ip,
      created_at: row.created_at!,
    });
    await recordAudit(trx, {
      ...from.audit,
      at: row.created_at!,
      action: 'client.register',
      client: inserted,
      details: { name: inserted.name, status: inserted.status, policy: config.registration, software_id: requested.metadata.software_id },
    });
    return inserted;
  });
  return {
    ...clientInformation(config, client, requested.metadata),
    ...(secret && { client_secret: secret }),
    registration_access_token: accessToken,
  };
}

/** The registration `clientId` names, if `authorization` carries its registration access token; else 401 (RFC 7592 §3). */
async function authorizedRegistration(deps: RegistrationDeps, clientId: string, authorization: string | undefined) {
  const token = bearerToken(authorization, 'The registration access token');
  const found = clientId.length <= 200 ? await registrations.findRegistration(deps.db, clientId, digest(token)) : undefined;
  if (!found) throw bearerError('invalid_token', 'The registration access token is not valid for this client');
  return { ...found, token };
}

/** GET on the registration_client_uri (RFC 7592 §2.1). The secret is a digest here: it is never shown again. */
export async function readRegistration(deps: RegistrationDeps, clientId: string, authorization: string | undefined) {
  const { client, metadata, token } = await authorizedRegistration(deps, clientId, authorization);
  return { ...clientInformation(deps.config, client, metadata), registration_access_token: token };
}

/**
 * PUT on the registration_client_uri (RFC 7592 §2.2): the metadata sent
 * replaces what was registered; what an administrator set beyond RFC 7591
 * (skip consent, introspection, lifetimes) stays. The client's type stays as
 * registered. The registration access token is rotated: the answer carries a
 * new one and the old one stops working. Under manual approval, an update
 * that widens an approved client sends it back to pending, as an owner's would.
 */
export async function replaceRegistration(deps: RegistrationDeps, from: Requester, clientId: string, body: unknown) {
  const { db, clock, config } = deps;
  const { client: before } = await authorizedRegistration(deps, clientId, from.authorization);
  const requested = readClientMetadata(config, body);
  if (requested.clientId !== before.client_id) {
    throw new OAuthError('invalid_client_metadata', 'client_id in the body must be the client_id of this registration (RFC 7592 section 2.2)');
  }
  if (requested.confidential !== before.is_confidential) {
    throw new OAuthError('invalid_client_metadata', `token_endpoint_auth_method cannot change a ${before.is_confidential ? 'confidential' : 'public'} client's type; register a new client instead`);
  }
  const valid = validate(config, requested, before);
  const accessToken = newSecret(PREFIX.registrationAccessToken);
  const now = clock.now();
  const after = await inTransaction(db, async (trx) => {
    const updated = await clients.updateClient(
      trx,
      before.client_id,
      { ...valid, skip_consent: before.skip_consent, may_introspect: before.may_introspect, access_token_ttl: before.access_token_ttl, refresh_token_ttl: before.refresh_token_ttl },
      now,
    );
    if (!updated) throw bearerError('invalid_token', 'The registration access token is not valid for this client');
    const review = editNeedsApproval(config, before, updated);
    const result = review ? (await clients.updateClient(trx, before.client_id, { status: 'pending', status_reason: null }, now))! : updated;
    await registrations.updateRegistration(trx, before.id, { metadata: requested.metadata, access_token_digest: digest(accessToken) });
    await recordAudit(trx, {
      ...from.audit,
      actor: { kind: 'client', clientId: before.client_id },
      at: now,
      action: 'client.update',
      client: before,
      details: { changed: changedSettings(before, updated), via: 'registration', ...(review ? { from: before.status, to: result.status } : {}) },
    });
    return result;
  });
  return { ...clientInformation(config, after, requested.metadata), registration_access_token: accessToken };
}

/** DELETE on the registration_client_uri (RFC 7592 §2.3): the client goes with every code, token and consent it had. */
export async function deleteRegistration(deps: RegistrationDeps, from: Requester, clientId: string): Promise<void> {
  const { client } = await authorizedRegistration(deps, clientId, from.authorization);
  await inTransaction(deps.db, async (trx) => {
    await clients.deleteClient(trx, client.client_id);
    await recordAudit(trx, {
      ...from.audit,
      actor: { kind: 'client', clientId: client.client_id },
      at: deps.clock.now(),
      action: 'client.delete',
      client,
      details: { name: client.name, via: 'registration' },
    });
  });
}

/** Defaults of `bin/latch registration-token create`: one registration, within a day. */
export const REGISTRATION_TOKEN_DEFAULTS = { uses: 1, ttl: 86400 } as const;

/** An initial access token for LATCH_REGISTRATION=token, shown once; only its digest is kept. */
export async function createRegistrationToken(
  { db, clock }: Pick<RegistrationDeps, 'db' | 'clock'>,
  audit: AuditContext,
  options: { uses?: number; ttl?: number },
): Promise<{ token: string; uses: number; expires_at: number }> {
  const uses = options.uses ?? REGISTRATION_TOKEN_DEFAULTS.uses;
  const ttl = options.ttl ?? REGISTRATION_TOKEN_DEFAULTS.ttl;
  const problems: Record<string, string> = {};
  if (!Number.isInteger(uses) || uses < 1 || uses > 1_000_000) problems.uses = 'must be a whole number from 1 to 1000000';
  const ttlProblem = lifetimeProblem(ttl);
  if (ttlProblem) problems.ttl = ttlProblem;
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  const token = newSecret(PREFIX.initialAccessToken);
  const now = clock.now();
  const expiresAt = addSeconds(now, ttl);
  await inTransaction(db, async (trx) => {
    await registrations.insertRegistrationToken(trx, { token_digest: digest(token), uses_left: uses, expires_at: expiresAt, created_at: now });
    await recordAudit(trx, { ...audit, at: now, action: 'registration.token_create', details: { uses, expires_at: epochSeconds(expiresAt) } });
  });
  return { token, uses, expires_at: epochSeconds(expiresAt) };
}
