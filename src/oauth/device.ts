import { randomInt } from 'node:crypto';
import { admitUserCodeEntry, forgiveUserCodeEntry, type UserCodeEntry } from '../accounts/throttle.js';
import type { Clock } from '../clock.js';
import { addSeconds } from '../clock.js';
import type { Config } from '../config.js';
import { digest, newSecret, PREFIX } from '../crypto/secrets.js';
import { recordAudit } from '../audit/record.js';
import type { AuditContext } from '../audit/events.js';
import type { Executor } from '../store/executor.js';
import { findClientWithOwner, type ClientWithOwner } from '../store/clients.js';
import { findConsentScope, saveConsent } from '../store/consents.js';
import { decideDevice, findPendingDevice, insertDeviceCode, type DevicePollState } from '../store/device-codes.js';
import { inTransaction } from '../store/transaction.js';
import type { AuthenticatedClient } from './client-auth.js';
import { clientStatusProblem } from './client-status.js';
import { OAuthError } from './errors.js';
import { assertGrantAllowed } from './grants/shared.js';
import type { Params } from './params.js';
import { formatScope, parseScope, resolveScope } from './scopes.js';
import { isExpired } from './token-state.js';

/** RFC 8628 §7.2. Clients may be registered with `device_code` for short (src/manage/clients.ts). */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
export const DEVICE_PATH = '/device';
/** Seconds a client must wait between polls (RFC 8628 §3.2); faster polls get slow_down. */
export const POLL_INTERVAL_SECONDS = 5;

/**
 * RFC 8628 §6.1's consonants: no vowels (no words), none of the look-alikes
 * 0/O, 1/I/L. 8 of them give 20^8 ≈ 2.56e10 codes, guarded by the entry
 * throttle (src/accounts/throttle.ts, DEVICE_ENTRY_POLICY: the arithmetic).
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/** As shown to people: XXXX-XXXX. */
export const formatUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

/**
 * What the user typed, as stored before digesting: case, dashes and spaces do
 * not matter (RFC 8628 §6.1). Null when it cannot be a user code at all, so
 * such input costs no lookup (it is still counted as a wrong entry).
 */
export function normalizeUserCode(input: string): string | null {
  if (input.length > 32) return null;
  const code = input.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== USER_CODE_LENGTH) return null;
  for (const ch of code) if (!USER_CODE_ALPHABET.includes(ch)) return null;
  return code;
}

export interface DeviceDeps {
  db: Executor;
  config: Config;
  clock: Clock;
}

/** RFC 8628 §3.2. */
export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** Collisions are a live-code-in-2.56e10 event; a few draws make a failure practically impossible. */
const USER_CODE_DRAWS = 5;

/**
 * RFC 8628 §3.1-3.2: an authenticated (or public) client registered for the
 * device grant asks for a pair of codes; the scope follows the rule of every grant.
 */
export async function startDeviceAuthorization(deps: DeviceDeps, params: Params, { client }: AuthenticatedClient): Promise<DeviceAuthorizationResponse> {
  assertGrantAllowed(client, DEVICE_CODE_GRANT_TYPE);
  const scope = resolveScope(deps.config, client, params.scope);
  const now = deps.clock.now();
  const ttl = deps.config.deviceCodeTtl;
  const deviceCode = newSecret(PREFIX.deviceCode);
  for (let draw = 0; draw < USER_CODE_DRAWS; draw++) {
    const userCode = newUserCode();
    const stored = await insertDeviceCode(deps.db, {
      device_code_digest: digest(deviceCode),
      user_code_digest: digest(userCode),
      client_id: client.id,
      scope,
      expires_at: addSeconds(now, ttl),
      created_at: now,
    });
    if (!stored) continue;
    const verificationUri = `${deps.config.issuer}${DEVICE_PATH}`;
    const shown = formatUserCode(userCode);
    return {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${shown}`,
      expires_in: ttl,
      interval: POLL_INTERVAL_SECONDS,
    };
  }
  throw new OAuthError('temporarily_unavailable', 'No free user code could be drawn; try again');
}

/** A request awaiting the user's decision, as the consent page shows it. */
export interface PendingDeviceRequest {
  /** Normalised; formatUserCode shows it. */
  userCode: string;
  client: ClientWithOwner;
  scope: string[];
  /** Scopes the user has not allowed this app before. */
  newScopes: string[];
}

/**
 * The pending, unexpired request with this user code, for `userId`; null when
 * there is none (a wrong, expired or decided code). An app that is no longer
 * active is refused as at the authorization endpoint.
 */
export async function findDeviceRequest(deps: DeviceDeps, typed: string, userId: string | null): Promise<PendingDeviceRequest | null> {
  const userCode = normalizeUserCode(typed);
  if (!userCode) return null;
  const pending = await findPendingDevice(deps.db, digest(userCode), deps.clock.now());
  if (!pending) return null;
  const client = await findClientWithOwner(deps.db, pending.client_id);
  if (!client) return null;
  const inactive = clientStatusProblem(client);
  if (inactive) throw inactive;
  const scope = parseScope(pending.scope);
  const remembered = userId ? parseScope(await findConsentScope(deps.db, userId, client.id)) : [];
  return { userCode, client, scope, newScopes: scope.filter((s) => !remembered.includes(s)) };
}

/**
 * A code typed on the verification page: counted by the entry throttle first
 * (a 429 OAuthError past it, before any lookup), then looked up; a right code
 * takes its attempt back.
 */
export async function enterUserCode(deps: DeviceDeps, entry: UserCodeEntry, typed: string, userId: string | null): Promise<PendingDeviceRequest | null> {
  await admitUserCodeEntry(deps.db, deps.clock, entry);
  const pending = await findDeviceRequest(deps, typed, userId);
  if (pending) await forgiveUserCodeEntry(deps.db, deps.clock, entry);
  return pending;
}

/**
 * The user's answer. Allowing remembers the consent as the code flow does (so
 * the app appears on the authorized apps page); either way the request is
 * decided once, and a request that expired or was decided meanwhile is an error.
 */
export async function decideDeviceRequest(
  deps: DeviceDeps,
  request: PendingDeviceRequest,
  input: { userId: string; decision: 'allow' | 'deny'; audit: AuditContext },
): Promise<void> {
  const now = deps.clock.now();
  const { client } = request;
  await inTransaction(deps.db, async (trx) => {
    const decided = await decideDevice(trx, {
      userCodeDigest: digest(request.userCode),
      userId: input.userId,
      status: input.decision === 'allow' ? 'approved' : 'denied',
      now,
    });
    if (!decided) throw new OAuthError('invalid_request', 'This code has expired or was already used; start again on your device');
    if (input.decision === 'deny' || request.newScopes.length === 0) return;
    const consented = formatScope([...parseScope(await findConsentScope(trx, input.userId, client.id)), ...request.scope]);
    await saveConsent(trx, input.userId, client.id, consented, now);
    await recordAudit(trx, { ...input.audit, at: now, action: 'consent.grant', user: { id: input.userId }, client, details: { scope: consented, via: 'device' } });
  });
}

const INVALID_DEVICE_CODE = 'The device code is invalid, was already used, or was issued to another client';

/**
 * RFC 8628 §3.5: why a poll gets no tokens, or null when it should have (the
 * statement and this rule disagree: the caller refuses all the same). `state`
 * is the request as it stood before this poll.
 */
export function devicePollProblem(state: DevicePollState | undefined, request: { clientUuid: string; now: Date }): OAuthError | null {
  const { now } = request;
  if (!state || state.client_id !== request.clientUuid || state.consumed_at !== null) return new OAuthError('invalid_grant', INVALID_DEVICE_CODE);
  if (isExpired(state.expires_at, now)) return new OAuthError('expired_token', 'The device code has expired; start a new device authorization');
  if (state.status === 'denied') return new OAuthError('access_denied', 'The user denied the request');
  if (state.status === 'approved') return null;
  const sinceLast = state.last_polled_at === null ? Infinity : now.getTime() - state.last_polled_at.getTime();
  if (sinceLast < POLL_INTERVAL_SECONDS * 1000) {
    return new OAuthError('slow_down', `Polled faster than every ${POLL_INTERVAL_SECONDS} seconds; wait 5 seconds longer between polls`);
  }
  return new OAuthError('authorization_pending', 'The user has not yet approved or denied the request');
}
