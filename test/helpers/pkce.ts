import { createHash, randomBytes } from 'node:crypto';

/** A code_verifier (RFC 7636 §4.1): 32 random bytes, base64url. */
export const newVerifier = (): string => randomBytes(32).toString('base64url');

/** The S256 code_challenge of `verifier` (RFC 7636 §4.2), computed here rather than by the code under test. */
export const challengeOf = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

/** A fresh verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = newVerifier();
  return { verifier, challenge: challengeOf(verifier) };
}
