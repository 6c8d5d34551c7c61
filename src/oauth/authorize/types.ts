import type { Client } from '../../db/schema.js';
import type { Config } from '../../config.js';
import type { Clock } from '../../clock.js';
import type { Executor } from '../../store/executor.js';
import type { AuthorizationParams } from './params.js';
import type { PromptValue } from './checks/prompt.js';
import type { IdTokenSigner } from '../../oidc/id-token.js';

export interface AuthorizationDeps {
  db: Executor;
  config: Config;
  clock: Clock;
  /** Signs JWT access tokens of the implicit grant (clients with access_token_format jwt). */
  signer?: IdTokenSigner;
}

/** A request that passed every check: what the consent page shows and what a code is bound to. */
export interface AuthorizationRequest {
  client: Client;
  /** Where the response goes: the URI sent, or the client's only registered one. */
  redirectUri: string;
  /** The URI as the client sent it (null when omitted); the token request must repeat it (RFC 6749 §4.1.3). */
  sentRedirectUri: string | null;
  responseType: 'code' | 'token';
  scope: string[];
  state: string | undefined;
  codeChallenge: string | null;
  /** OpenID Connect: the nonce for the ID token, what the client asked to be shown, how recent a sign-in it accepts. */
  nonce: string | null;
  prompt: Set<PromptValue>;
  maxAge: number | null;
  loginHint: string | null;
  /** RFC 8707: the resources asked for (empty: none), bound to the code. */
  resources: string[];
  /** The parameters to carry through the login and consent pages, exactly as sent. */
  params: AuthorizationParams;
}

export type AuthorizationOutcome =
  /** An authorization response (success or error) for the client, at its redirect URI. */
  | { kind: 'redirect'; location: string }
  /** Out of band: the code is shown to the user, who pastes it into the app. */
  | { kind: 'oob'; code: string; client: Client }
  /**
   * Send the user to sign in, then back with `params`. `reauth`: even when already
   * signed in (prompt=login, max_age exceeded). `loginHint` prefills the username.
   */
  | { kind: 'login'; params: AuthorizationParams; reauth: boolean; loginHint: string | null }
  | { kind: 'consent'; request: AuthorizationRequest; owner: string | null; newScopes: string[] };

/** The signed-in user as the authorization endpoint needs them: who, and when, how and in which session they authenticated. */
export interface SignedIn {
  userId: string;
  sid: string;
  authTime: Date;
  amr: string[];
}

/** The user's answer on the consent page. */
export type ConsentDecision = 'allow' | 'deny';

/** What each check after the redirect URI reads: the trusted client and target, and the parameters as sent. */
export interface CheckInput {
  config: Config;
  client: Client;
  redirectUri: string;
  params: AuthorizationParams;
}
