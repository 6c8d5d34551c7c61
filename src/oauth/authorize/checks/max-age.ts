import { OAuthError } from '../../errors.js';
import type { CheckInput } from '../types.js';

/** Digits only, and few enough of them to stay an exact integer. */
const MAX_AGE = /^[0-9]{1,10}$/;

/** max_age (OIDC Core §3.1.2.1): seconds since the user last authenticated, a non-negative integer; null when absent. */
export function checkMaxAge({ params }: CheckInput): number | null {
  if (params.max_age === undefined) return null;
  if (!MAX_AGE.test(params.max_age)) throw new OAuthError('invalid_request', 'max_age must be a non-negative integer number of seconds');
  return Number(params.max_age);
}
