import { randomBytes } from 'node:crypto';
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Clock } from '../clock.js';
import { SealedValueError, type Sealer } from '../crypto/sealed.js';
import { digest } from '../crypto/secrets.js';
import type { Executor } from '../store/executor.js';
import {
  acceptTotpStep,
  findTotp,
  replaceRecoveryCodes,
  savePendingTotp,
  useRecoveryCode,
} from '../store/totp.js';

/** RFC 6238 with the parameters every authenticator app understands: SHA-1, 6 digits, 30 seconds. */
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD = 30;
/** One step either way: a phone's clock a little off still works; a code is good for about 90 seconds at most. */
const DRIFT_SECONDS = TOTP_PERIOD;
export const RECOVERY_CODE_COUNT = 10;
/** 32 symbols (no i, l, o, 1), so each random byte maps to one without bias. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz023456789';
const RECOVERY_LENGTH = 10;

/** What a user typed in a code field, once spaces are gone: a TOTP code, a recovery code, or neither. */
export type EnteredCode = { kind: 'totp'; code: string } | { kind: 'recovery'; code: string } | { kind: 'malformed'; message: string };

export const CODE_FORMAT_MESSAGE = `Enter the ${TOTP_DIGITS}-digit code from your authenticator app.`;

/** Spaces (and a recovery code's hyphen) are ignored: apps and people group digits. */
export function parseCode(input: string, allowRecovery: boolean): EnteredCode {
  const code = input.replace(/[\s-]/g, '').toLowerCase();
  if (allowRecovery && code.length === RECOVERY_LENGTH && [...code].every((c) => RECOVERY_ALPHABET.includes(c))) return { kind: 'recovery', code };
  if (/^\d+$/.test(code)) {
    return code.length === TOTP_DIGITS ? { kind: 'totp', code } : { kind: 'malformed', message: `${CODE_FORMAT_MESSAGE} That code has ${code.length} digits.` };
  }
  return { kind: 'malformed', message: allowRecovery ? `${CODE_FORMAT_MESSAGE} Or enter one of your recovery codes.` : CODE_FORMAT_MESSAGE };
}

/** The time step a code was accepted at, or null. Only steps after `afterStep` count: a used code stays used. */
async function matchingStep(secret: string, code: string, at: Date, afterStep: number): Promise<number | null> {
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(at.getTime() / 1000),
    epochTolerance: DRIFT_SECONDS,
    ...(afterStep >= 0 ? { afterTimeStep: afterStep } : {}),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

export interface TotpDeps {
  db: Executor;
  clock: Clock;
  /** Seals TOTP secrets (purpose `totp-secret`), the user id as context. */
  sealer: Sealer;
  siteName: string;
}

export interface Enrolment {
  secret: string;
  uri: string;
  /** The URI as a QR code: inline SVG markup, drawn here (no external service, no inline style). */
  qrSvg: string;
}

async function describeEnrolment(deps: TotpDeps, username: string, secret: string): Promise<Enrolment> {
  const uri = generateURI({ issuer: deps.siteName, label: username, secret });
  const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { secret, uri, qrSvg };
}

/** Starts an enrolment with a fresh secret, sealed at rest until confirmed; null when TOTP is already on. */
export async function startEnrolment(deps: TotpDeps, user: { id: string; username: string }): Promise<Enrolment | null> {
  const secret = generateSecret();
  const stored = await savePendingTotp(deps.db, { userId: user.id, secretSealed: deps.sealer.seal(secret, user.id), now: deps.clock.now() });
  return stored ? describeEnrolment(deps, user.username, secret) : null;
}

export type TotpState = { state: 'off' } | { state: 'pending'; enrolment: Enrolment } | { state: 'on'; since: Date };

export async function totpState(deps: TotpDeps, user: { id: string; username: string }): Promise<TotpState> {
  const row = await findTotp(deps.db, user.id);
  if (!row) return { state: 'off' };
  if (row.confirmed_at) return { state: 'on', since: row.confirmed_at };
  const secret = openSecret(deps, row.secret_sealed, user.id);
  // A pending secret sealed under an earlier LATCH_KEY_SECRET is as good as none: starting again replaces it.
  return secret ? { state: 'pending', enrolment: await describeEnrolment(deps, user.username, secret) } : { state: 'off' };
}

/** The secret, or null when it no longer opens (LATCH_KEY_SECRET changed): then only recovery codes work. */
function openSecret(deps: TotpDeps, sealed: string, userId: string): string | null {
  try {
    return deps.sealer.open(sealed, userId);
  } catch (err) {
    if (err instanceof SealedValueError) return null;
    throw err;
  }
}

/**
 * Checks a TOTP code against the user's secret and takes its time step, once.
 * `pending`: the code confirms an enrolment (the secret becomes active).
 */
export async function acceptTotpCode(deps: TotpDeps, userId: string, code: string, pending = false): Promise<boolean> {
  const row = await findTotp(deps.db, userId);
  if (!row || (row.confirmed_at === null) !== pending) return false;
  const now = deps.clock.now();
  const secret = openSecret(deps, row.secret_sealed, userId);
  const step = secret === null ? null : await matchingStep(secret, code, now, Number(row.last_step));
  if (step === null) return false;
  return acceptTotpStep(deps.db, userId, step, pending ? { confirmAt: now } : {});
}

/** Ten fresh recovery codes (50 bits each), stored as digests; the plain codes are returned to be shown once. */
export async function issueRecoveryCodes(db: Executor, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = [...randomBytes(RECOVERY_LENGTH)].map((b) => RECOVERY_ALPHABET[b & 31]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
  await replaceRecoveryCodes(db, userId, codes.map(recoveryDigest));
  return codes;
}

const recoveryDigest = (code: string) => digest(`recovery:${code.replace(/[\s-]/g, '').toLowerCase()}`);

/** Uses a recovery code once. */
export function redeemRecoveryCode(deps: Pick<TotpDeps, 'db' | 'clock'>, userId: string, code: string): Promise<boolean> {
  return useRecoveryCode(deps.db, userId, recoveryDigest(code), deps.clock.now());
}
