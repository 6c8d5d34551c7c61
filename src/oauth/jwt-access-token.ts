import { compactVerify, createLocalJWKSet, type JWTPayload } from 'jose';
import { randomBytes } from 'node:crypto';
import { epochSeconds } from '../clock.js';
import { digest } from '../crypto/secrets.js';
import { SIGNING_ALGS, type SigningKeys } from '../oidc/keys.js';
import type { IssuedUser } from '../store/issuing.js';
import { audienceOf } from './resources.js';

/** What signs JWT access tokens: the instance's cached keys, as for ID tokens. */
export type AccessTokenSigner = Pick<SigningKeys, 'sign'>;
/** What checks a presented JWT access token is latch's own: the published keys (cached) and the issuer. */
export interface AccessTokenVerifier {
  keys: Pick<SigningKeys, 'jwks'>;
  issuer: string;
}

/** RFC 9068 §2.1: the JWS `typ` of an access token. */
export const AT_JWT_TYP = 'at+jwt';
/**
 * Put before a JWT's jti when it is digested: no opaque token can start with it,
 * so a jti read off a JWT (it is not secret) can never be presented as an opaque token.
 */
const JTI_DOMAIN = 'at+jwt:';

export interface AccessTokenClaimsInput {
  issuer: string;
  clientId: string;
  now: Date;
  ttl: number;
  jti: string;
  scope: string;
  /** The RFC 8707 resources it is for (empty: the issuer). */
  audience: readonly string[];
  /** Null: an app's own token (client credentials), whose subject is the client. */
  user: IssuedUser | null;
}

/** A new jti: random and unguessable, like an opaque token (it is what the token is recorded by). */
export function newJti(): string {
  return randomBytes(32).toString('base64url');
}

/** The digest a JWT access token is recorded and found by. */
export function jtiDigest(jti: string): string {
  return digest(JTI_DOMAIN + jti);
}

/**
 * RFC 9068 §2.2. `sub` is the user's stable id (as in ID tokens), or the
 * client_id for an app's own token (§2.2, client credentials); auth_time only
 * when the sign-in behind the grant is known.
 */
export function accessTokenClaims(input: AccessTokenClaimsInput): JWTPayload {
  const iat = epochSeconds(input.now);
  const claims: JWTPayload = {
    iss: input.issuer,
    exp: iat + input.ttl,
    iat,
    aud: audienceOf(input.audience, input.issuer),
    sub: input.user?.user_id ?? input.clientId,
    client_id: input.clientId,
    scope: input.scope,
    jti: input.jti,
  };
  if (input.user?.auth_time) claims.auth_time = epochSeconds(input.user.auth_time);
  return claims;
}

/** Signed once, by the current key of the default algorithm (RS256, as RFC 9068 §2.1 requires verifiers to support). */
export function signAccessToken(signer: AccessTokenSigner, input: AccessTokenClaimsInput): Promise<string> {
  return signer.sign(accessTokenClaims(input), { typ: AT_JWT_TYP });
}

/** Far above any access token latch signs (a few scopes, up to 20 resources). */
export const MAX_JWT_LENGTH = 16384;

const looksLikeJwt = (token: string): boolean => token.split('.').length === 3;

const keySets = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();

/**
 * The digest a presented access token is recorded by: of the token for an
 * opaque one; for a JWT, of its jti, once its signature is one of latch's
 * published keys, its typ at+jwt and its issuer this one (a JWT anyone could
 * write must not name a recorded jti). Null: not a token latch could have issued.
 * Expiry and revocation are the record's to say, as for opaque tokens.
 */
export async function accessTokenDigest({ keys, issuer }: AccessTokenVerifier, token: string): Promise<string | null> {
  if (!looksLikeJwt(token)) return token.startsWith(JTI_DOMAIN) ? null : digest(token);
  if (token.length > MAX_JWT_LENGTH) return null;
  const jwks = await keys.jwks();
  let keySet = keySets.get(jwks);
  if (!keySet) keySets.set(jwks, (keySet = createLocalJWKSet(jwks)));
  try {
    const { payload, protectedHeader } = await compactVerify(token, keySet, { algorithms: [...SIGNING_ALGS] });
    if (protectedHeader.typ !== AT_JWT_TYP) return null;
    const claims = JSON.parse(new TextDecoder().decode(payload)) as JWTPayload;
    if (claims.iss !== issuer || typeof claims.jti !== 'string') return null;
    return jtiDigest(claims.jti);
  } catch {
    return null;
  }
}
