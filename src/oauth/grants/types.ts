import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Database } from '../../db/schema.js';
import type { AuthenticatedClient } from '../client-auth.js';
import type { TokenResponse } from '../mint.js';
import type { Params } from '../params.js';
import type { IdTokenSigner } from '../../oidc/id-token.js';

export interface GrantContext {
  db: Kysely<Database>;
  config: Config;
  clock: Clock;
  /** The caller's address, for sign-in throttling. */
  ip: string;
  /** Signs ID tokens (the instance's cached signing keys). */
  signer: IdTokenSigner;
  /** Observers (metrics); grants report what happened and never depend on them. */
  events?: GrantEvents;
}

export interface GrantEvents {
  refreshReuse?(): void;
}

/**
 * One grant type: a validated request from an authenticated client, to tokens or
 * an OAuthError. `resources`: the request's RFC 8707 `resource` values, as sent.
 */
export type GrantHandler = (ctx: GrantContext, params: Params, auth: AuthenticatedClient, resources: readonly string[]) => Promise<TokenResponse>;
