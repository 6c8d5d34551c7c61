import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import { addSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import { openPostgres } from '../../src/db/database.js';
import { ATTEMPT_PRUNE_INTERVAL_SECONDS, PRUNE_RETENTION_SECONDS, startHousekeeping, startPruneTimer } from '../../src/housekeeping.js';
import { LONGEST_ATTEMPT_WINDOW_SECONDS } from '../../src/accounts/throttle.js';
import { createTestToken } from '../../src/manage/clients/index.js';
import { createRegistrationToken } from '../../src/oauth/registration/index.js';
import { spendRegistrationToken } from '../../src/store/registrations.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { mintAccessToken, mintForNewGrant } from '../../src/oauth/mint.js';
import { insertCode } from '../../src/store/codes.js';
import { countAttempt } from '../../src/store/login-attempts.js';
import { pruneExpired } from '../../src/store/prune.js';
import { insertSession } from '../../src/store/sessions.js';
import { revokeGrants } from '../../src/store/grants.js';
import { testConfig } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { withClock } from '../helpers/clock.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';

const DAY = 24 * 3600;
let t: TestDatabase;
const config = testConfig();
/** Each test starts at TEST_EPOCH on a clock of its own. */
const clock = withClock();
const ctx = () => ({ db: t.db, clock, config });

beforeAll(async () => {
  t = await testDatabase();
});
afterAll(() => t.close());

async function code(clientId: string, userId: string, expiresAt: Date) {
  const value = newSecret(PREFIX.code);
  await insertCode(t.db, {
    code_digest: digest(value),
    client_id: clientId,
    user_id: userId,
    redirect_uri: 'https://app.example/callback',
    scope: 'read',
    code_challenge: null,
    code_challenge_method: null,
    expires_at: expiresAt,
    created_at: clock.now(),
  });
  return digest(value);
}

async function session(userId: string, expiresAt: Date) {
  const id = digest(newSecret(PREFIX.session));
  await insertSession(t.db, { id_digest: id, user_id: userId, csrf_secret: 'c', created_at: clock.now(), expires_at: expiresAt });
  return id;
}

const KEY = { authorization_codes: 'code_digest', access_tokens: 'token_digest', refresh_tokens: 'token_digest', sessions: 'id_digest' } as const;
const exists = async (table: keyof typeof KEY, key: string) => {
  const rows = await sql`select 1 from ${sql.table(table)} where ${sql.ref(KEY[table])} = ${key}`.execute(t.db);
  return rows.rows.length === 1;
};
const grantExists = async (id: string) => (await t.db.selectFrom('grants').select('id').where('id', '=', id).execute()).length === 1;
const grantOf = async (refreshToken: string) =>
  (await t.db.selectFrom('refresh_tokens').select('grant_id').where('token_digest', '=', digest(refreshToken)).executeTakeFirstOrThrow()).grant_id;

describe('bin/latch prune', () => {
  it('deletes what ended beyond retention and keeps live rows and rotated-but-unexpired refresh tokens', async () => {
    const user = await makeUser(ctx());
    const client = await makeClient(ctx());
    const t0 = clock.now();
    const mint = (withRefresh: boolean) =>
      mintForNewGrant(t.db, config, { client, userId: user.id, scope: 'read', now: clock.now(), withRefresh });

    // Ended long ago by the time prune runs (two days after t0).
    const oldCode = await code(client.id, user.id, addSeconds(t0, 60));
    const revokedFamily = await mint(true);
    const revokedGrant = await grantOf(revokedFamily.refresh_token!);
    await revokeGrants(t.db, [revokedGrant], t0);
    const machine = await mintAccessToken(t.db, config, { client, userId: null, scope: 'read', now: t0 });
    const oldSession = await session(user.id, addSeconds(t0, 3600));
    await countAttempt(t.db, 'user:someone', { now: t0, windowStart: addSeconds(t0, -900), free: 5, firstBlockSeconds: 30, maxBlockSeconds: 900 });

    // A rotated refresh token stays until it expires: replaying it is how reuse is detected.
    const rotatedFamily = await mint(true);
    await t.db.updateTable('refresh_tokens').set({ rotated_at: t0 }).where('token_digest', '=', digest(rotatedFamily.refresh_token!)).execute();

    // Live, or ended within the retention period.
    const { token: personal } = await createTestToken({ db: t.db, clock, config }, OPERATOR, client.client_id, { userId: user.id });
    const liveSession = await session(user.id, addSeconds(t0, 30 * DAY));
    const recentlyRevoked = await mint(true);
    clock.advance(1.5 * DAY);
    await revokeGrants(t.db, [await grantOf(recentlyRevoked.refresh_token!)], clock.now());
    clock.advance(0.5 * DAY);
    const liveCode = await code(client.id, user.id, addSeconds(clock.now(), 60));
    const livePair = await mint(true);

    const r = await cli(['prune', '--json'], { clock, openDb: async () => ({ ...t, close: async () => {} }) });
    expect(r.code).toBe(0);
    expect(r.json.deleted).toEqual({
      authorization_codes: 1,
      device_codes: 0,
      access_tokens: 2,
      refresh_tokens: 1,
      grants: 1,
      sessions: 1,
      login_attempts: 1,
      mail_outbox: 0,
      audit_events: 0,
      signing_keys: 0,
      pending_signins: 0,
      account_links: 0,
      registration_tokens: 0,
    });

    expect(await exists('authorization_codes', oldCode)).toBe(false);
    expect(await exists('access_tokens', digest(revokedFamily.access_token))).toBe(false);
    expect(await exists('refresh_tokens', digest(revokedFamily.refresh_token!))).toBe(false);
    expect(await grantExists(revokedGrant)).toBe(false);
    expect(await exists('access_tokens', digest(machine.access_token))).toBe(false);
    expect(await exists('sessions', oldSession)).toBe(false);
    expect(await t.db.selectFrom('login_attempts').selectAll().execute()).toEqual([]);

    expect(await exists('refresh_tokens', digest(rotatedFamily.refresh_token!))).toBe(true);
    expect(await exists('access_tokens', digest(rotatedFamily.access_token))).toBe(true);
    expect(await grantExists(await grantOf(rotatedFamily.refresh_token!))).toBe(true);
    expect(await exists('access_tokens', digest(personal.token))).toBe(true);
    expect(await exists('sessions', liveSession)).toBe(true);
    expect(await exists('refresh_tokens', digest(recentlyRevoked.refresh_token!))).toBe(true);
    expect(await exists('access_tokens', digest(recentlyRevoked.access_token))).toBe(true);
    expect(await exists('authorization_codes', liveCode)).toBe(true);
    expect(await exists('access_tokens', digest(livePair.access_token))).toBe(true);
    expect(await exists('refresh_tokens', digest(livePair.refresh_token!))).toBe(true);

    // A second run finds nothing more.
    const again = await cli(['prune', '--json'], { clock, openDb: async () => ({ ...t, close: async () => {} }) });
    expect(Object.values(again.json.deleted).every((n) => n === 0)).toBe(true);
  });

  it('deletes initial access tokens used up or expired before the cutoff, and keeps live and recently ended ones', async () => {
    const make = async (uses: number, ttl: number) => digest((await createRegistrationToken({ db: t.db, clock }, OPERATOR, { uses, ttl })).token);
    const spend = (d: string) => spendRegistrationToken(t.db, d, clock.now());
    // Ended beyond retention by the time prune runs (two days after t0).
    const usedUp = await make(1, 30 * DAY);
    expect(await spend(usedUp)).toBe(true);
    const expiredUnused = await make(3, 3600);
    // Still usable: one use left of two, within its month.
    const halfUsed = await make(2, 30 * DAY);
    expect(await spend(halfUsed)).toBe(true);
    clock.advance(1.5 * DAY);
    // Ended within retention: used up and expired less than a day before prune.
    const recentlyUsedUp = await make(1, 30 * DAY);
    expect(await spend(recentlyUsedUp)).toBe(true);
    const recentlyExpired = await make(1, 3600);
    clock.advance(0.5 * DAY);
    const fresh = await make(1, 3600);

    const counts = await pruneExpired(t.db, clock.now(), addSeconds(clock.now(), -PRUNE_RETENTION_SECONDS));
    expect(counts.registration_tokens).toBe(2);
    const left = (await t.db.selectFrom('registration_tokens').select('token_digest').execute()).map((r) => r.token_digest);
    expect(left).not.toContain(usedUp);
    expect(left).not.toContain(expiredUnused);
    expect(left).toEqual(expect.arrayContaining([halfUsed, recentlyUsedUp, recentlyExpired, fresh]));

    // A day on, the recently ended ones are past retention too; the live ones stay.
    clock.advance(DAY);
    const later = await pruneExpired(t.db, clock.now(), addSeconds(clock.now(), -PRUNE_RETENTION_SECONDS));
    expect(later.registration_tokens).toBe(2);
    const still = (await t.db.selectFrom('registration_tokens').select('token_digest').execute()).map((r) => r.token_digest);
    expect(still.sort()).toEqual([halfUsed, fresh].sort());
  });

  it('deletes in batches of the given size until nothing is left', async () => {
    const user = await makeUser(ctx());
    const client = await makeClient(ctx());
    const expired = addSeconds(clock.now(), -2 * PRUNE_RETENTION_SECONDS);
    const digests = [];
    for (let i = 0; i < 7; i++) digests.push(await code(client.id, user.id, expired));
    const now = clock.now();
    const counts = await pruneExpired(t.db, now, addSeconds(now, -PRUNE_RETENTION_SECONDS), 2);
    expect(counts.authorization_codes).toBe(7);
    for (const d of digests) expect(await exists('authorization_codes', d)).toBe(false);
  });

  it('finds revoked tokens among many live ones by walking the key in ranges, and leaves the live ones', async () => {
    const user = await makeUser(ctx());
    const client = await makeClient(ctx());
    const t0 = clock.now();
    const revoked: string[] = [];
    const live: string[] = [];
    for (let i = 0; i < 40; i++) {
      const minted = await mintAccessToken(t.db, config, { client, userId: user.id, scope: 'read', now: t0 });
      (i % 3 === 0 ? revoked : live).push(digest(minted.access_token));
    }
    await t.db.updateTable('access_tokens').set({ revoked_at: t0 }).where('token_digest', 'in', revoked).execute();
    // Two days on: the revoked ones are past retention, the live ones (2 h tokens here made to last) are not.
    await t.db.updateTable('access_tokens').set({ expires_at: addSeconds(t0, 30 * DAY) }).where('token_digest', 'in', [...revoked, ...live]).execute();
    const now = addSeconds(t0, 2 * DAY);
    // Batches of 2: each walking statement covers 10 keys, so 40 rows take several.
    const counts = await pruneExpired(t.db, now, addSeconds(now, -PRUNE_RETENTION_SECONDS), 2);
    expect(counts.access_tokens).toBe(revoked.length);
    for (const d of revoked) expect(await exists('access_tokens', d)).toBe(false);
    for (const d of live) expect(await exists('access_tokens', d)).toBe(true);
  });
});

describe('LATCH_PRUNE_INTERVAL timer', () => {
  const logger = () => ({ info: vi.fn(), warn: vi.fn() }) as unknown as FastifyBaseLogger & { info: ReturnType<typeof vi.fn>; warn: ReturnType<typeof vi.fn> };
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is off at 0: no timer is started', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const stop = startPruneTimer(0, t.db, clock, logger());
    expect(vi.getTimerCount()).toBe(0);
    stop();
  });

  it('prunes every interval, and not after it is stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const user = await makeUser(ctx());
    const first = await session(user.id, addSeconds(clock.now(), -60));
    const log = logger();
    const stop = startPruneTimer(30, t.db, clock, log);

    vi.advanceTimersByTime(29_000);
    expect(log.info).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1_000);
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledTimes(1), { timeout: 10_000 });
    expect(log.info.mock.calls[0]![1]).toBe('pruned expired rows');
    expect(log.info.mock.calls[0]![0].pruned.sessions).toBe(1);
    expect(await exists('sessions', first)).toBe(false);

    const second = await session(user.id, addSeconds(clock.now(), -60));
    vi.advanceTimersByTime(30_000);
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledTimes(2), { timeout: 10_000 });
    expect(await exists('sessions', second)).toBe(false);

    stop();
    const third = await session(user.id, addSeconds(clock.now(), -60));
    vi.advanceTimersByTime(120_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(log.info).toHaveBeenCalledTimes(2);
    expect(await exists('sessions', third)).toBe(true);
  });

  it('logs a failed prune as a warning, without the process dying, and tries again next time', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dead = openPostgres('postgres://postgres@127.0.0.1:9/none', { connectionTimeoutMillis: 300 });
    const log = logger();
    const stop = startPruneTimer(10, dead.db, clock, log);
    try {
      vi.advanceTimersByTime(10_000);
      await vi.waitFor(() => expect(log.warn).toHaveBeenCalledTimes(1), { timeout: 10_000 });
      expect(log.warn.mock.calls[0]![1]).toBe('prune failed; will retry');
      vi.advanceTimersByTime(10_000);
      await vi.waitFor(() => expect(log.warn).toHaveBeenCalledTimes(2), { timeout: 10_000 });
      expect(log.info).not.toHaveBeenCalled();
    } finally {
      stop();
      await dead.close();
    }
  });
});

describe('housekeeping started by the server', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prunes sign-in counters past their window by default (LATCH_PRUNE_INTERVAL=0), keeping live and still-blocking ones', async () => {
    expect(config.pruneInterval).toBe(0);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const now = clock.now();
    const longAgo = addSeconds(now, -LONGEST_ATTEMPT_WINDOW_SECONDS - 1);
    const rule = (at: Date) => ({ now: at, windowStart: addSeconds(at, -900), free: 5, firstBlockSeconds: 30, maxBlockSeconds: 900 });
    for (let i = 0; i < 3; i++) await countAttempt(t.db, `ip:housekeeping-stale-${i}`, rule(longAgo));
    await countAttempt(t.db, 'ip:housekeeping-live', rule(now));
    await t.db
      .insertInto('login_attempts')
      .values({ key: 'ip:housekeeping-blocking', failures: 21, first_failure_at: longAgo, blocked_until: addSeconds(now, 60) })
      .execute();
    const keys = async () =>
      (await t.db.selectFrom('login_attempts').select('key').where('key', 'like', 'ip:housekeeping-%').orderBy('key').execute()).map((r) => r.key);
    expect(await keys()).toHaveLength(5);

    const log = { info: vi.fn(), warn: vi.fn(), debug: vi.fn() } as unknown as FastifyBaseLogger;
    const stop = startHousekeeping(config.pruneInterval, t.db, clock, log);
    try {
      vi.advanceTimersByTime(ATTEMPT_PRUNE_INTERVAL_SECONDS * 1000);
      await vi.waitFor(async () => expect(await keys()).toEqual(['ip:housekeeping-blocking', 'ip:housekeeping-live']), { timeout: 10_000 });
    } finally {
      stop();
    }
    expect(vi.getTimerCount()).toBe(0);
  });
});
