import type { Clock } from '../../clock.js';
import type { AuthorizationParams } from './params.js';
import type { AuthorizationRequest, SignedIn } from './types.js';

/**
 * Whether the request needs the user to sign in now: prompt=login, or a sign-in
 * older than max_age (max_age=0 always) (OIDC Core §3.1.2.1, §3.1.2.3).
 */
export function needsReauthentication(request: AuthorizationRequest, signedIn: SignedIn, clock: Clock): boolean {
  if (request.prompt.has('login')) return true;
  if (request.maxAge === null) return false;
  const age = Math.floor((clock.now().getTime() - signedIn.authTime.getTime()) / 1000);
  return request.maxAge === 0 || age > request.maxAge;
}

/**
 * The parameters to come back with after re-authenticating: without prompt=login
 * and max_age, so the fresh sign-in is not asked for again. Safe because the
 * code's ID token states the new session's auth_time, which a relying party
 * that asked for max_age or prompt=login checks (OIDC Core §3.1.3.7 item 13).
 */
export function afterReauthentication(params: AuthorizationParams): AuthorizationParams {
  const { max_age: _maxAge, prompt, ...rest } = params;
  const remaining = (prompt ?? '').split(' ').filter((v) => v !== '' && v !== 'login');
  return remaining.length > 0 ? { ...rest, prompt: remaining.join(' ') } : rest;
}
