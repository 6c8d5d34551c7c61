import type { AccessToken, ClientStatus, User } from '../db/schema.js';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';

/** An access token with what validating and introspecting it needs, in one indexed lookup. */
export type AccessTokenView = Pick<
  AccessToken,
  'token_digest' | 'grant_id' | 'user_id' | 'scope' | 'kind' | 'expires_at' | 'revoked_at' | 'created_at' | 'audience'
> & {
  /** The client's row id (access_tokens.client_id); `client_id` is its public id. */
  client_uuid: string;
  client_id: string;
  client_status: ClientStatus;
  username: User['username'] | null;
  email: User['email'];
  email_verified: User['email_verified'] | null;
};

const FIND_ACCESS_TOKEN = `
  select t.token_digest, t.grant_id, t.client_id as client_uuid, c.client_id, c.status as client_status,
         t.user_id, u.username, u.email, u.email_verified, t.scope, t.kind, t.expires_at, t.revoked_at, t.created_at, t.audience
  from access_tokens t
  join clients c on c.id = t.client_id
  left join users u on u.id = t.user_id
  where t.token_digest = $1`;

export async function findAccessToken(db: Executor, tokenDigest: string): Promise<AccessTokenView | undefined> {
  return (await runCompiled<AccessTokenView>(db, FIND_ACCESS_TOKEN, [tokenDigest]))[0];
}

/** Ends one access token alone. */
export async function revokeAccessToken(db: Executor, accessDigest: string, now: Date): Promise<void> {
  await db
    .updateTable('access_tokens')
    .set({ revoked_at: now })
    .where('token_digest', '=', accessDigest)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Ends one access token and the refresh token paired with it. */
export async function revokePairByAccess(db: Executor, accessDigest: string, now: Date): Promise<void> {
  await revokeAccessToken(db, accessDigest, now);
  await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('access_token_digest', '=', accessDigest)
    .where('revoked_at', 'is', null)
    .execute();
}
