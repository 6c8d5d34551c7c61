import type { Config } from '../../config.js';
import { OAuthError } from '../errors.js';
import { checkPkce } from './checks/pkce.js';
import { checkResponseType } from './checks/response-type.js';
import { checkScope } from './checks/scope.js';
import { checkNonce } from './checks/nonce.js';
import { checkPrompt } from './checks/prompt.js';
import { checkMaxAge } from './checks/max-age.js';
import { checkLoginHint } from './checks/login-hint.js';
import { checkResource } from './checks/resource.js';
import { readAuthorizationParams } from './params.js';
import type { Target } from './target.js';
import type { AuthorizationRequest, CheckInput } from './types.js';

/**
 * Everything after the redirect URI, one check per parameter, in the order a
 * client most needs to hear about it (RFC 6749 §4.1.2.1). The first problem is
 * returned, to be answered at the now-trusted redirect URI. A new authorization
 * parameter is one more file in checks/ and one more line here.
 */
export function validateRequest(config: Config, target: Target, raw: Record<string, unknown>): AuthorizationRequest | OAuthError {
  try {
    const params = readAuthorizationParams(raw);
    const input: CheckInput = { config, client: target.client, redirectUri: target.redirectUri, params };
    const responseType = checkResponseType(input);
    const scope = checkScope(input);
    const codeChallenge = checkPkce(input, responseType);
    const nonce = checkNonce(input);
    const prompt = checkPrompt(input);
    const maxAge = checkMaxAge(input);
    const loginHint = checkLoginHint(input);
    const resources = checkResource(input);
    return {
      client: target.client,
      redirectUri: target.redirectUri,
      sentRedirectUri: target.sentRedirectUri,
      responseType,
      scope,
      state: params.state,
      codeChallenge,
      nonce,
      prompt,
      maxAge,
      loginHint,
      resources,
      params,
    };
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
}
