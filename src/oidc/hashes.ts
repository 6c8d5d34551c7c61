import { createHash } from 'node:crypto';
import type { SigningAlg } from '../db/schema.js';

/**
 * The hash OIDC pairs with each signing algorithm: SHA-256 for RS256 and ES256
 * (OIDC Core §3.1.3.6); for EdDSA over Ed25519, SHA-512, as relying parties
 * (openid-client, oidc-provider) expect, since Ed25519 itself hashes with it.
 */
const HASH: Record<SigningAlg, 'sha256' | 'sha512'> = { RS256: 'sha256', ES256: 'sha256', EdDSA: 'sha512' };

/** OIDC `at_hash` (and `c_hash`): the left half of the value's hash under the ID token's algorithm, base64url. */
export function leftHalfHash(value: string, alg: SigningAlg): string {
  const full = createHash(HASH[alg]).update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}
