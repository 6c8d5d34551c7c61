import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { addSeconds, type Clock } from '../clock.js';
import { recordAudit } from '../audit/record.js';
import { digest } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import { deletePasskey, findPasskey, insertChallenge, insertPasskey, listPasskeys, recordPasskeyUse, renamePasskey, takeChallenge } from '../store/passkeys.js';
import { hasSecondFactor } from '../store/totp.js';
import type { Actor } from './security.js';
import { auditSignIn, type SignInAudit } from './sign-in.js';

/*
 * @simplewebauthn/server with its CBOR and ASN.1 libraries adds about 20 MB to
 * a process: loaded on the first passkey request, so a server whose users
 * never use passkeys does not carry it.
 */
let webauthnLibrary: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (webauthnLibrary ??= import('@simplewebauthn/server'));

/** How long the browser has to answer a WebAuthn challenge. */
export const CHALLENGE_SECONDS = 5 * 60;
export const MAX_PASSKEYS = 25;
export const MAX_PASSKEY_NAME = 64;

/** Who the passkeys are for: the issuer's host (RP ID) and origin. Null when the issuer is an IP address, which browsers refuse. */
export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingParty(issuer: string, siteName: string): RelyingParty | null {
  const url = new URL(issuer);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return null;
  return { id: host, origin: url.origin, name: siteName };
}

export interface PasskeyDeps {
  db: Executor;
  clock: Clock;
  rp: RelyingParty;
}

export type PasskeyOutcome<T> = { ok: true; value: T } | { ok: false; message: string };

const fail = (message: string) => ({ ok: false as const, message });
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** The WebAuthn user handle: the user's id, never a name or address (it is stored on the authenticator). */
const userHandle = (userId: string) => new TextEncoder().encode(userId);

/** A new challenge row, bound to the browser by a random id (its digest is the key); the id goes in a cookie. */
async function newChallenge(deps: Pick<PasskeyDeps, 'db' | 'clock'>, purpose: 'register' | 'signin', challenge: string, userId: string | null, returnTo: string | null) {
  const browserId = randomBytes(32).toString('base64url');
  const now = deps.clock.now();
  await insertChallenge(deps.db, { idDigest: digest(browserId), purpose, userId, challenge, returnTo, now, expiresAt: addSeconds(now, CHALLENGE_SECONDS) });
  return browserId;
}

/**
 * The library's reason, without the values it quotes (challenges, origins as
 * sent, bytes of a mangled response): enough to tell a user or a developer
 * what went wrong, and printable, for the page and the audit log alike.
 */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/"[^"]*"/g, '…').replace(/[^\x20-\x7e…]/g, '?').slice(0, 200);
}

const EXPIRED = 'The passkey request expired or was already used; try again.';

/** Options for navigator.credentials.create(): a discoverable credential, the user's existing passkeys excluded. */
export async function beginRegistration(deps: PasskeyDeps, user: { id: string; username: string }): Promise<PasskeyOutcome<{ browserId: string; options: PublicKeyCredentialCreationOptionsJSON }>> {
  const existing = await listPasskeys(deps.db, user.id);
  if (existing.length >= MAX_PASSKEYS) return fail(`You have ${MAX_PASSKEYS} passkeys already; remove one first.`);
  const { generateRegistrationOptions } = await webauthn();
  const options = await generateRegistrationOptions({
    rpName: deps.rp.name,
    rpID: deps.rp.id,
    userName: user.username,
    userID: userHandle(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    timeout: CHALLENGE_SECONDS * 1000,
  });
  const browserId = await newChallenge(deps, 'register', options.challenge, user.id, null);
  return { ok: true, value: { browserId, options } };
}

/** Verifies the authenticator's answer to this browser's registration challenge and stores the passkey. */
export async function finishRegistration(
  deps: PasskeyDeps,
  actor: Actor,
  browserId: string | null,
  response: unknown,
  name: string | undefined,
): Promise<PasskeyOutcome<{ id: string; name: string }>> {
  const challenge = browserId ? await takeChallenge(deps.db, digest(browserId), 'register', deps.clock.now()) : undefined;
  if (!challenge || challenge.user_id !== actor.user.id) return fail(EXPIRED);
  const { verifyRegistrationResponse } = await webauthn();
  let info;
  try {
    const verified = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge: challenge.challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.id,
      requireUserVerification: false,
    });
    if (!verified.verified) throw new Error('the response did not verify');
    info = verified.registrationInfo;
  } catch (err) {
    await recordAudit(deps.db, { ...actor.audit, at: deps.clock.now(), action: 'passkey.add', outcome: 'failure', user: actor.user, details: { reason: reasonOf(err) } });
    return fail(`The passkey could not be added: ${reasonOf(err)}`);
  }
  const existing = await listPasskeys(deps.db, actor.user.id);
  const chosen = cleanName(name) ?? `Passkey ${existing.length + 1}`;
  const stored = await insertPasskey(deps.db, {
    id: info.credential.id,
    userId: actor.user.id,
    name: chosen,
    publicKey: b64url(info.credential.publicKey),
    counter: info.credential.counter,
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    transports: (info.credential.transports ?? []).slice(0, 10),
    now: deps.clock.now(),
  });
  if (!stored) return fail('This passkey is already registered.');
  await recordAudit(deps.db, { ...actor.audit, at: deps.clock.now(), action: 'passkey.add', user: actor.user, details: { label: chosen, backed_up: info.credentialBackedUp } });
  return { ok: true, value: { id: info.credential.id, name: chosen } };
}

/** A name as typed, trimmed; undefined when empty. */
function cleanName(name: string | undefined): string | undefined {
  const trimmed = name?.replace(/\s+/g, ' ').trim();
  return trimmed ? trimmed.slice(0, MAX_PASSKEY_NAME) : undefined;
}

export async function renameOwnPasskey(deps: Pick<PasskeyDeps, 'db'>, actor: Actor, id: string, name: string): Promise<PasskeyOutcome<string>> {
  const chosen = cleanName(name);
  if (!chosen) return fail('Give the passkey a name.');
  if (!(await renamePasskey(deps.db, actor.user.id, id, chosen))) return fail('No such passkey.');
  return { ok: true, value: chosen };
}

export async function removeOwnPasskey(deps: Pick<PasskeyDeps, 'db' | 'clock'>, actor: Actor, id: string): Promise<PasskeyOutcome<string>> {
  const name = await deletePasskey(deps.db, actor.user.id, id);
  if (name === null) return fail('No such passkey.');
  await recordAudit(deps.db, { ...actor.audit, at: deps.clock.now(), action: 'passkey.remove', user: actor.user, details: { label: name } });
  return { ok: true, value: name };
}

/** Options for navigator.credentials.get() with no username: the authenticator offers its discoverable credentials. */
export async function beginPasskeySignIn(deps: PasskeyDeps, returnTo: string): Promise<{ browserId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const { generateAuthenticationOptions } = await webauthn();
  const options = await generateAuthenticationOptions({ rpID: deps.rp.id, userVerification: 'preferred', timeout: CHALLENGE_SECONDS * 1000 });
  const browserId = await newChallenge(deps, 'signin', options.challenge, null, returnTo);
  return { browserId, options };
}

export interface PasskeySignIn {
  user: { id: string; username: string };
  returnTo: string;
  /**
   * RFC 8176: a hardware-bound key (hwk) and a user-presence test (user,
   * always required); mfa when the authenticator also verified the user (PIN
   * or biometric): possession and that, two factors.
   */
  amr: string[];
}

/**
 * Verifies a passkey sign-in against this browser's challenge. A verified user
 * (PIN or biometric on the authenticator) with a passkey has given two factors,
 * so no TOTP step follows; without user verification, an account with
 * two-step sign-in is refused (the passkey alone is one factor). Success and
 * failure are recorded by the one sign-in audit (auditSignIn).
 */
export async function finishPasskeySignIn(deps: PasskeyDeps, browserId: string | null, response: unknown, audit: Omit<SignInAudit, 'username'>): Promise<PasskeyOutcome<PasskeySignIn>> {
  const challenge = browserId ? await takeChallenge(deps.db, digest(browserId), 'signin', deps.clock.now()) : undefined;
  if (!challenge) return fail(EXPIRED);
  const answer = response as Partial<AuthenticationResponseJSON> | null;
  const credentialId = typeof answer?.id === 'string' ? answer.id : '';
  const passkey = credentialId && credentialId.length <= 1024 ? await findPasskey(deps.db, credentialId) : undefined;
  if (!passkey) {
    await auditSignIn(deps.db, deps.clock, { ...audit, username: '' }, null, { method: 'passkey', reason: 'unknown_passkey' });
    return fail('This passkey is not registered here (it may have been removed).');
  }
  const user = { id: passkey.user_id, username: passkey.username };
  const attempt = { ...audit, username: user.username };
  const refuse = async (reason: string, message: string) => {
    await auditSignIn(deps.db, deps.clock, attempt, user, { method: 'passkey', reason }, 'failure');
    return fail(message);
  };
  const handle = answer?.response?.userHandle;
  if (handle !== undefined && handle !== b64url(userHandle(user.id))) return refuse('user_handle_mismatch', 'The passkey answered for another account.');
  // A disabled account is refused as the password sign-in refuses it (src/accounts/sign-in.ts): no hint why.
  if (passkey.disabled_at) return refuse('disabled', 'This passkey cannot sign you in.');
  const { verifyAuthenticationResponse } = await webauthn();
  let info;
  try {
    const verified = await verifyAuthenticationResponse({
      response: answer as AuthenticationResponseJSON,
      expectedChallenge: challenge.challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.id,
      credential: { id: passkey.id, publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')), counter: Number(passkey.counter), transports: passkey.transports },
      requireUserVerification: false,
    });
    if (!verified.verified) throw new Error('the signature did not verify');
    info = verified.authenticationInfo;
  } catch (err) {
    return refuse('invalid_response', `The passkey sign-in did not verify: ${reasonOf(err)}`);
  }
  if (!info.userVerified && (await hasSecondFactor(deps.db, user.id))) {
    return refuse('user_not_verified', 'This passkey did not verify you (no PIN or biometric), and your account uses two-step sign-in: use a passkey that does, or your password and code.');
  }
  // The conditional update catches a cloned authenticator racing with its original.
  if (!(await recordPasskeyUse(deps.db, passkey.id, { counter: info.newCounter, backedUp: info.credentialBackedUp, now: deps.clock.now() }))) {
    return refuse('counter_replayed', 'The passkey sign-in did not verify: its signature counter went backwards.');
  }
  await auditSignIn(deps.db, deps.clock, attempt, user, { method: 'passkey', label: passkey.name, user_verified: info.userVerified });
  return { ok: true, value: { user, returnTo: challenge.return_to ?? '/', amr: info.userVerified ? ['hwk', 'user', 'mfa'] : ['hwk', 'user'] } };
}

export { listPasskeys };
