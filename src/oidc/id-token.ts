import type { JWTPayload } from 'jose';
import { epochSeconds } from '../clock.js';
import type { SigningAlg } from '../db/schema.js';
import type { IssuedUser } from '../store/issuing.js';
import { scopeClaims } from './claims.js';
import { leftHalfHash } from './hashes.js';
import type { SigningKeys } from './keys.js';

/** What signs ID tokens: an instance's cached keys (src/oidc/keys.ts); never a database read per token. */
export type IdTokenSigner = Pick<SigningKeys, 'sign'>;

export interface IdTokenInput {
  issuer: string;
  clientId: string;
  alg: SigningAlg;
  /** LATCH_ID_TOKEN_TTL, seconds. */
  ttl: number;
  now: Date;
  scopes: readonly string[];
  /** The access token issued beside it, for `at_hash`. */
  accessToken: string;
  user: IssuedUser;
}

/** Whether a grant of these scopes gets an ID token: OpenID Connect asks for one with `openid`. */
export function wantsIdToken(scopes: readonly string[]): boolean {
  return scopes.includes('openid');
}

/**
 * OIDC Core §2 and §3.1.3.6. `sub` is the user's id: stable, never reused, never
 * the username. auth_time, sid and amr describe the sign-in behind the grant and
 * are left out when it is not known; the nonce is only there when the code's
 * request had one (a refresh never repeats it, §12.2).
 */
export function idTokenClaims(input: IdTokenInput): JWTPayload {
  const { user } = input;
  const iat = epochSeconds(input.now);
  const claims: JWTPayload = {
    iss: input.issuer,
    sub: user.user_id,
    aud: input.clientId,
    exp: iat + input.ttl,
    iat,
    at_hash: leftHalfHash(input.accessToken, input.alg),
  };
  if (user.auth_time !== null) claims.auth_time = epochSeconds(user.auth_time);
  if (user.nonce !== null) claims.nonce = user.nonce;
  if (user.sid !== null) claims.sid = user.sid;
  if (user.amr !== null && user.amr.length > 0) claims.amr = user.amr;
  return { ...claims, ...scopeClaims(input.scopes, user) };
}

export function signIdToken(signer: IdTokenSigner, input: IdTokenInput): Promise<string> {
  return signer.sign(idTokenClaims(input), { alg: input.alg, typ: 'JWT' });
}
