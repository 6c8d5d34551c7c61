import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ManualClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { prune } from '../../src/housekeeping.js';
import { pruneExpired } from '../../src/store/prune.js';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { insertMany } from './helpers.js';

const t = useTestContext();
let user: Awaited<ReturnType<typeof makeUser>>;
const DAY = 86400;
const count = async () => (await sql<{ n: number }>`select count(*)::int as n from audit_events`.execute(t.db)).rows[0]!.n;

beforeAll(async () => {
  user = await makeUser(t);
});

describe('audit retention', () => {
  it('LATCH_AUDIT_RETENTION defaults to 90 days and takes whole seconds', () => {
    expect(loadConfig({}).auditRetention).toBe(7776000);
    expect(loadConfig({ LATCH_AUDIT_RETENTION: '3600' }).auditRetention).toBe(3600);
    expect(() => loadConfig({ LATCH_AUDIT_RETENTION: '90d' })).toThrow(/LATCH_AUDIT_RETENTION: expected a retention as a whole number of seconds/);
  });

  it('prune deletes events older than the retention, in batches, and keeps the rest', async () => {
    const now = t.clock.now();
    await sql`delete from audit_events`.execute(t.db);
    // 2,500 events one second apart ending 91 days ago, 10 ending 89 days ago.
    await insertMany(t, 2500, new Date(now.getTime() - 91 * DAY * 1000), [user.id, user.id]);
    await insertMany(t, 10, new Date(now.getTime() - 89 * DAY * 1000), [user.id, user.id]);
    const counts = await pruneExpired(t.db, now, now, 1000, new Date(now.getTime() - 90 * DAY * 1000));
    expect(counts.audit_events).toBe(2500);
    expect(await count()).toBe(10);
  });

  it('bin/latch prune uses LATCH_AUDIT_RETENTION and the injected clock', async () => {
    const clock = new ManualClock(t.clock.now());
    const run = (env: Record<string, string>) => cli(['prune', '--json'], { clock, env: { LOG_LEVEL: 'silent', ...env }, openDb: async () => ({ ...t.handle, close: async () => {} }) });
    expect((await run({})).json.deleted.audit_events).toBe(0);
    clock.advance(2 * DAY);
    // 89 days old + 2 = 91: past the default retention.
    expect((await run({})).json.deleted.audit_events).toBe(10);
    await insertMany(t, 5, clock.now(), [user.id, user.id]);
    clock.advance(60);
    expect((await run({ LATCH_AUDIT_RETENTION: '3600' })).json.deleted.audit_events).toBe(0);
    clock.advance(3600);
    expect((await run({ LATCH_AUDIT_RETENTION: '3600' })).json.deleted.audit_events).toBe(5);
    expect(await count()).toBe(0);
  });

  it('the in-process housekeeping prune takes the retention too', async () => {
    await insertMany(t, 3, t.clock.now(), [user.id, user.id]);
    const later = new ManualClock(t.clock.now());
    later.advance(100);
    expect((await prune(t.db, later, 1000)).audit_events).toBe(0);
    expect((await prune(t.db, later, 50)).audit_events).toBe(3);
  });
});
