import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { insertMany } from './helpers.js';

const t = useTestContext();
let carol: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  carol = await makeUser(t, { username: 'carol' });
  const other = await makeUser(t, { username: 'dave' });
  await insertMany(t, 300, new Date(t.clock.now().getTime() - 3600_000), [carol.id, other.id]);
});

const run = (argv: string[]) => cli(['audit', ...argv], { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });

describe('bin/latch audit', () => {
  it('--json prints {"events":[…]} in DESIGN.md\'s shape, newest first, 100 by default', async () => {
    const r = await run(['--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.events).toHaveLength(100);
    const e = r.json.events[0];
    expect(e).toMatchObject({ action: 'user.create', actor: 'operator', target: 'dave', outcome: 'success', address: null });
    expect(e.at).toBe(Math.floor(t.clock.now().getTime() / 1000));
    for (const key of ['at', 'actor', 'action', 'target', 'address', 'outcome']) expect(Object.keys(e)).toContain(key);
    const ats = r.json.events.map((x: { at: number }) => x.at);
    expect([...ats].sort((a, b) => b - a)).toEqual(ats);
    expect(r.json.next).toMatch(/^\d+_\d+$/);
  });

  it('--user, --action, --since, --until and --limit filter; --after continues where a page stopped', async () => {
    const mine = await run(['--user', 'carol', '--action', 'signin.', '--limit', '40', '--json']);
    expect(mine.json.events).toHaveLength(40);
    for (const e of mine.json.events) expect(e.target_user_id).toBe(carol.id);
    const rest = await run(['--user', 'carol', '--action', 'signin.', '--limit', '1000', '--after', mine.json.next, '--json']);
    expect(rest.json.events).toHaveLength(150 - 40);
    expect(rest.json.next).toBeNull();
    const ids = [...mine.json.events, ...rest.json.events].map((e: { id: string }) => e.id);
    expect(new Set(ids).size).toBe(150);

    const recent = await run(['--since', '10m', '--json']);
    expect(recent.json.events.map((e: { action: string }) => e.action)).toEqual(['user.create', 'user.create']);
    const older = await run(['--until', '30m', '--action', 'user.create', '--json']);
    expect(older.json.events).toEqual([]);
    const epoch = Math.floor(t.clock.now().getTime() / 1000) - 3600;
    const window = await run(['--since', String(epoch - 9), '--until', String(epoch + 1), '--json']);
    expect(window.json.events).toHaveLength(10);
  });

  it('prints a readable table by default', async () => {
    const r = await run(['--limit', '3']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^time\s+actor\s+action\s+target\s+address\s+outcome$/);
    expect(lines[1]).toMatch(/^2030-01-01T00:00:00Z\s+operator\s+user\.create\s+dave\s+-\s+success$/);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^\(more: --after \d+_\d+\)$/);
  });

  it.each([
    [['--since', 'last tuesday'], /--since|since: expected epoch seconds/],
    [['--limit', '0'], /limit: expected a whole number from 1 to 1000/],
    [['--action', "x'; drop table audit_events; --"], /action: expected an action/],
    [['--user', 'nobody'], /user: no user named "nobody"/],
    [['--client', 'a b'], /client: expected a client_id/],
  ])('%j is refused with one line and no change', async (argv, message) => {
    const r = await run(argv as string[]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    // The database line every command prints, then the one error line.
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^latch: database: /);
    const n = (await sql<{ n: number }>`select count(*)::int as n from audit_events`.execute(t.db)).rows[0]!.n;
    expect(n).toBe(302);
  });
});
