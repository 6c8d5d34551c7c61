import type { SigningAlg } from '../db/schema.js';
import type { Executor } from './executor.js';

/** A client to tell, by back-channel, that one of its sessions ended. */
export interface BackchannelTarget {
  client_id: string;
  backchannel_logout_uri: string;
  id_token_alg: SigningAlg;
  sid: string;
  user_id: string;
}

/**
 * The clients with a back-channel logout URI that these sessions signed in to:
 * each grant or code carries the `sid` of the session behind it. One row per
 * client and session.
 */
export async function backchannelTargets(db: Executor, sids: readonly string[]): Promise<BackchannelTarget[]> {
  if (sids.length === 0) return [];
  const signedIn = db
    .selectFrom('grants')
    .select(['client_id', 'sid', 'user_id'])
    .where('sid', 'in', sids)
    .union(db.selectFrom('authorization_codes').select(['client_id', 'sid', 'user_id']).where('sid', 'in', sids));
  const rows = await db
    .selectFrom(signedIn.as('s'))
    .innerJoin('clients as c', 'c.id', 's.client_id')
    .select(['c.client_id', 'c.backchannel_logout_uri', 'c.id_token_alg', 's.sid', 's.user_id'])
    .where('c.backchannel_logout_uri', 'is not', null)
    .where('s.user_id', 'is not', null)
    .distinct()
    .execute();
  return rows as BackchannelTarget[];
}
