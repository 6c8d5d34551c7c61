import { OAuthError } from '../../errors.js';
import type { CheckInput } from '../types.js';

/** As long as a username may be typed on the login page. */
export const MAX_LOGIN_HINT_LENGTH = 256;

/** login_hint (OIDC Core §3.1.2.1): prefills the username on the login page; null when absent. */
export function checkLoginHint({ params }: CheckInput): string | null {
  if (params.login_hint === undefined) return null;
  if (params.login_hint.length > MAX_LOGIN_HINT_LENGTH) {
    throw new OAuthError('invalid_request', `The login_hint must be at most ${MAX_LOGIN_HINT_LENGTH} characters`);
  }
  return params.login_hint;
}
