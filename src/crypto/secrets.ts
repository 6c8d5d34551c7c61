import { hash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

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

/**
 * Random bytes are drawn from the CSPRNG 4 KiB at a time and each byte is handed
 * out once: one call per 128 secrets instead of one per secret, which cost more
 * than the secret's digest at the token endpoint's rates.
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolOffset = POOL_SIZE;

function random32(): Buffer {
  if (poolOffset + 32 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 32);
  poolOffset += 32;
  return bytes;
}

/** 256 bits of randomness, base64url, behind a readable prefix. */
export function newSecret(prefix: string): string {
  return prefix + random32().toString('base64url');
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
  // One-shot: no Hash object per call.
  return hash('sha256', secret, 'hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
}
