import { sql } from 'kysely';
import type { Executor } from './executor.js';
import { runCompiled } from './compiled.js';
import type { Client, ClientDecision, ClientStatus, NewClient } from '../db/schema.js';
import { systemClock, type Clock } from '../clock.js';

export function insertClient(db: Executor, client: NewClient): Promise<Client> {
  return db.insertInto('clients').values(client).returningAll().executeTakeFirstOrThrow();
}

export function findClientByClientId(db: Executor, clientId: string): Promise<Client | undefined> {
  return db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

/**
 * How long a client row read for authentication is reused in this process. Every
 * token request authenticates its client; this saves that round trip. A change
 * is seen at once all the same: writes made by this process clear the cache, and
 * on PostgreSQL every change to a client (from any instance, the CLI or psql) is
 * announced by a trigger that ./client-changes.ts listens for. While that
 * listener is down the cache is not used at all.
 * Tokens are never cached: revocation and suspension end them at once everywhere.
 */
export const CLIENT_CACHE_MS = 1000;
const CLIENT_CACHE_MAX = 10_000;
type Cached = { client: Promise<Client | undefined>; at: number; generation: number };
type Cache = { entries: Map<string, Cached>; clock: Clock };
const clientCache = new WeakMap<object, Cache>();
/** Bumped by every change to clients this process learns of; older entries are void. */
let generation = 0;
/** Sources of change notices that are down: while any is, nothing is taken from the cache. */
const blind = new Set<object>();

/** Voids every cached client: one changed (clients change rarely, so all go). */
export function forgetCachedClients(): void {
  generation++;
}

/**
 * Marks a source of change notices (a LISTEN connection) as down or back up.
 * Either way the cache starts again empty: changes may have been missed.
 */
export function setClientNoticesDown(source: object, down: boolean): void {
  if (down) blind.add(source);
  else blind.delete(source);
  forgetCachedClients();
}

/** The clock that ages cached clients read through `db` (tests move it instead of waiting). */
export function setClientCacheClock(db: Executor, clock: Clock): void {
  clientCache.set(db, { entries: new Map(), clock });
}

const FIND_CLIENT = 'select * from clients where client_id = $1';

/**
 * findClientByClientId for client authentication, through the short-lived cache.
 * Concurrent requests for one client share one read, so an expiring entry does
 * not send every waiting request to the database at once.
 */
export function findClientForAuth(db: Executor, clientId: string): Promise<Client | undefined> {
  const read = () => runCompiled<Client>(db, FIND_CLIENT, [clientId]).then((rows) => rows[0]);
  if (db.isTransaction || blind.size > 0) return read();
  let cache = clientCache.get(db);
  if (!cache) clientCache.set(db, (cache = { entries: new Map(), clock: systemClock }));
  const byId = cache.entries;
  const now = cache.clock.now().getTime();
  const hit = byId.get(clientId);
  // A clock set back makes an entry's age negative: that is not fresh either.
  if (hit && hit.generation === generation && now >= hit.at && now - hit.at < CLIENT_CACHE_MS) return hit.client;
  if (byId.size >= CLIENT_CACHE_MAX) byId.clear();
  const entry: Cached = { client: read(), at: now, generation };
  byId.set(clientId, entry);
  const forget = () => {
    if (byId.get(clientId) === entry) byId.delete(clientId);
  };
  // Unknown ids and failed reads are not kept: guessing cannot fill memory, and an outage is not remembered.
  entry.client.then((client) => client === undefined && forget(), forget);
  return entry.client;
}

export interface ClientWithOwner extends Client {
  owner_username: string | null;
  /** It registered itself (RFC 7591) rather than being created by a person. */
  registered: boolean;
}

/** Clients as the console, the admin pages and the CLI show them: with the owner's username and whether they registered themselves. */
const withOwner = (db: Executor) =>
  db
    .selectFrom('clients')
    .leftJoin('users', 'users.id', 'clients.owner_id')
    .selectAll('clients')
    .select('users.username as owner_username')
    .select(sql<boolean>`exists (select 1 from client_registrations r where r.client_id = clients.id)`.as('registered'));

/** One client with its owner's username, as the console and the admin page show it. */
export function findClientWithOwner(db: Executor, clientId: string): Promise<ClientWithOwner | undefined> {
  return withOwner(db).where('clients.client_id', '=', clientId).executeTakeFirst();
}

export function listClients(
  db: Executor,
  filter: { ownerId?: string; status?: ClientStatus } = {},
): Promise<ClientWithOwner[]> {
  let q = withOwner(db)
    .orderBy('clients.created_at', 'asc')
    .orderBy('clients.name', 'asc');
  if (filter.ownerId) q = q.where('clients.owner_id', '=', filter.ownerId);
  if (filter.status) q = q.where('clients.status', '=', filter.status);
  return q.execute();
}

export type ClientChanges = Partial<
  Pick<
    Client,
    | 'name'
    | 'description'
    | 'website'
    | 'redirect_uris'
    | 'scopes'
    | 'grant_types'
    | 'skip_consent'
    | 'may_introspect'
    | 'access_token_ttl'
    | 'refresh_token_ttl'
    | 'access_token_format'
    | 'resources'
    | 'id_token_alg'
    | 'secret_digest'
    | 'status'
    | 'status_reason'
  >
>;

/**
 * Changes a client; undefined when there is no such client, or when `version`
 * (the updated_at someone saw, see clientVersion) is given and the client has
 * changed since: the check and the change are one statement. updated_at only
 * ever grows, by at least a millisecond, so every change makes a new version.
 */
export async function updateClient(
  db: Executor,
  clientId: string,
  changes: ClientChanges,
  now: Date,
  version?: Date,
): Promise<Client | undefined> {
  let query = db
    .updateTable('clients')
    .set({ ...changes, updated_at: sql<Date>`greatest(${now}::timestamptz, updated_at + interval '1 millisecond')` })
    .where('client_id', '=', clientId);
  if (version) query = query.where(sql<Date>`date_trunc('milliseconds', updated_at)`, '=', version);
  const row = await query.returningAll().executeTakeFirst();
  forgetCachedClients();
  return row;
}

export async function deleteClient(db: Executor, clientId: string): Promise<boolean> {
  const result = await db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
  forgetCachedClients();
  return Number(result.numDeletedRows) > 0;
}

export async function recordDecision(
  db: Executor,
  decision: Pick<ClientDecision, 'client_id' | 'decision' | 'reason' | 'decided_by' | 'decided_at'>,
): Promise<void> {
  await db.insertInto('client_decisions').values(decision).execute();
}

export function listDecisions(db: Executor, clientUuid: string) {
  return db
    .selectFrom('client_decisions')
    .leftJoin('users', 'users.id', 'client_decisions.decided_by')
    .select([
      'client_decisions.decision',
      'client_decisions.reason',
      'client_decisions.decided_at',
      'users.username as decided_by_username',
    ])
    .where('client_decisions.client_id', '=', clientUuid)
    .orderBy('client_decisions.decided_at', 'asc')
    .execute();
}

/** How many distinct users hold a live grant or a remembered consent for the client. */
export async function countAuthorizedUsers(db: Executor, clientUuid: string): Promise<number> {
  const users = db
    .selectFrom('consents')
    .select('user_id')
    .where('client_id', '=', clientUuid)
    // A password grant leaves no consent, only a grant.
    .union(
      db
        .selectFrom('grants')
        .select('user_id')
        .where('client_id', '=', clientUuid)
        .where('user_id', 'is not', null)
        .where('revoked_at', 'is', null)
        .$narrowType<{ user_id: string }>(),
    )
    .as('u');
  const row = await db
    .selectFrom(users)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A position in the (created_at, id) order of a status's apps: created_at in microseconds. */
export interface ClientCursor {
  createdMicros: bigint;
  id: string;
}

export type ClientPageRow = ClientWithOwner & { created_micros: string };

/**
 * One page of apps of `status`, oldest first, ordered by (created_at, id):
 * a page that starts after the last row of the one before neither repeats
 * nor skips an app when others are registered meanwhile.
 */
export async function listClientsPage(db: Executor, q: { status: ClientStatus; after?: ClientCursor; limit: number }): Promise<ClientPageRow[]> {
  let query = withOwner(db)
    .select(sql<string>`((extract(epoch from clients.created_at) * 1000000)::bigint)::text`.as('created_micros'))
    .where('clients.status', '=', q.status);
  if (q.after) {
    const { createdMicros, id } = q.after;
    query = query.where(
      sql<boolean>`(clients.created_at, clients.id) > (timestamptz 'epoch' + ${createdMicros.toString()}::bigint * interval '1 microsecond', ${id}::uuid)`,
    );
  }
  return query.orderBy('clients.created_at', 'asc').orderBy('clients.id', 'asc').limit(q.limit).execute() as Promise<ClientPageRow[]>;
}

/** How many apps each status has. */
export async function countClientsByStatus(db: Executor): Promise<Record<ClientStatus, number>> {
  const rows = await db.selectFrom('clients').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
  const counts: Record<ClientStatus, number> = { pending: 0, active: 0, suspended: 0, denied: 0 };
  for (const r of rows) counts[r.status] = Number(r.n);
  return counts;
}
