import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes let secret scanners recognise a leaked latch credential. */
export const PREFIX = {
  clientSecret: 'latch_cs_',
  accessToken: 'latch_at_',
  refreshToken: 'latch_rt_',
  personalToken: 'latch_pat_',
  code: 'latch_ac_',
  deviceCode: 'latch_dc_',
  session: 'latch_ss_',
  /** Initial access token for dynamic registration (LATCH_REGISTRATION=token). */
  initialAccessToken: 'latch_iat_',
  /** RFC 7592 registration access token. */
  registrationAccessToken: 'latch_rat_',
} as const;

/** 256 bits of randomness, base64url, behind a readable prefix. */
export function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Public identifiers need no prefix scanners care about; 128 bits keeps them unguessable. */
export function newClientId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * Secrets are stored as SHA-256 digests: they are 256-bit random, so a slow hash
 * would add latency and no strength.
 */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
}
