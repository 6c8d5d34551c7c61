import { OAuthError } from '../../errors.js';
import type { CheckInput } from '../types.js';

/** Bounded so the ID token that repeats it stays small. */
export const MAX_NONCE_LENGTH = 512;

/** nonce (OIDC Core §3.1.2.1): carried to the code and stated in its ID token; null when absent. */
export function checkNonce({ params }: CheckInput): string | null {
  if (params.nonce === undefined) return null;
  if (params.nonce.length > MAX_NONCE_LENGTH) throw new OAuthError('invalid_request', `The nonce must be at most ${MAX_NONCE_LENGTH} characters`);
  return params.nonce;
}
