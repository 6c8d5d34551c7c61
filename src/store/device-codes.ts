import type { DeviceCodeStatus } from '../db/schema.js';
import type { Executor } from './executor.js';
import { issuedColumns, ISSUED_USER_JOIN, pairParameters, runIssuing, WRITE_PAIR, type PairToStore, type Written } from './issuing.js';

export interface NewDeviceCode {
  device_code_digest: string;
  user_code_digest: string;
  client_id: string;
  scope: string;
  expires_at: Date;
  created_at: Date;
}

/**
 * Stores a new request; false when its user code's digest is already taken (a
 * live or not yet pruned row), for the caller to draw another.
 */
export async function insertDeviceCode(db: Executor, row: NewDeviceCode): Promise<boolean> {
  const inserted = await db
    .insertInto('device_codes')
    .values({ ...row, status: 'pending', user_id: null, last_polled_at: null, consumed_at: null })
    .onConflict((oc) => oc.column('user_code_digest').doNothing())
    .returning('device_code_digest')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** A request the user can still decide (pending and unexpired): its app's public client_id and scope. */
export interface PendingDevice {
  client_id: string;
  scope: string;
}

export async function findPendingDevice(db: Executor, userCodeDigest: string, now: Date): Promise<PendingDevice | undefined> {
  return db
    .selectFrom('device_codes as d')
    .innerJoin('clients as c', 'c.id', 'd.client_id')
    .select(['c.client_id', 'd.scope'])
    .where('d.user_code_digest', '=', userCodeDigest)
    .where('d.status', '=', 'pending')
    .where('d.expires_at', '>', now)
    .executeTakeFirst();
}

/**
 * Records the user's decision on a pending, unexpired request, in one
 * statement; false when it was no longer pending (decided elsewhere, expired).
 */
export async function decideDevice(
  db: Executor,
  input: { userCodeDigest: string; userId: string; status: Exclude<DeviceCodeStatus, 'pending'>; now: Date },
): Promise<boolean> {
  const result = await db
    .updateTable('device_codes')
    .set({ status: input.status, user_id: input.userId })
    .where('user_code_digest', '=', input.userCodeDigest)
    .where('status', '=', 'pending')
    .where('expires_at', '>', input.now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** What a poll found: the request as it stood before this poll, once locked. */
export interface DevicePollState {
  client_id: string;
  status: DeviceCodeStatus;
  expires_at: Date;
  last_polled_at: Date | null;
  consumed_at: Date | null;
}

/*
 * One statement per poll: it locks the request, stamps last_polled_at (the
 * old value comes back, so slow_down costs no second statement), and, when the
 * request is approved, unexpired and unclaimed, claims it and opens its family
 * with the first pair. Only this client's polls touch the row.
 */
const POLL_DEVICE_CODE = `
  with code as (
    select client_id, user_id, scope, status, expires_at, last_polled_at, consumed_at
    from device_codes where device_code_digest = $7
    for update
  ), polled as (
    update device_codes d set
      last_polled_at = $1,
      consumed_at = case when c.status = 'approved' and c.consumed_at is null and c.expires_at > $1 then $1 else d.consumed_at end
    from code c
    where d.device_code_digest = $7 and c.client_id = $2
    returning d.user_id, d.scope, (c.consumed_at is null and d.consumed_at is not null) as claimed
  ), source as (
    insert into grants (id, client_id, user_id, scope, created_at, resources)
    select $8, $2, user_id, scope, $1, $9 from polled where claimed
    returning id as grant_id, user_id, scope, auth_time, sid, amr, resources as audience
  ),
  ${WRITE_PAIR}
  select code.client_id, code.status, code.expires_at, code.last_polled_at, code.consumed_at, ${issuedColumns()}
  from code left join source s on true ${ISSUED_USER_JOIN}`;

/**
 * A poll of the token endpoint. Of concurrent polls after approval exactly one
 * claims the request and gets the pair; the others see it claimed. Otherwise
 * writes only the poll time and returns the state (undefined: no such code).
 */
export function pollDeviceCode(
  db: Executor,
  input: { now: Date; clientUuid: string; deviceCodeDigest: string; grantId: string; resources: string[]; pair: PairToStore },
): Promise<Written<DevicePollState | undefined>> {
  return runIssuing<DevicePollState>(db, POLL_DEVICE_CODE, [
    ...pairParameters(input.now, input.clientUuid, input.pair),
    input.deviceCodeDigest,
    input.grantId,
    input.resources,
  ]);
}
