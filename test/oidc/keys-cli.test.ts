import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { cli } from '../helpers/cli.js';

let t: TestDatabase;
const clock = new ManualClock();
const env = { LOG_LEVEL: 'silent', LATCH_KEY_SECRET: 'cli-key-secret-0123456789abcdef0123', LATCH_DATA_DIR: '/nonexistent-latch-test' };
const run = (argv: string[]) => cli(argv, { clock, env, openDb: async () => ({ ...t, close: async () => {} }) });

beforeAll(async () => {
  t = await testDatabase();
});
afterAll(() => t.close());

type Key = { kid: string; alg: string; state: string; created_at: number };
const byAlg = (keys: Key[], alg: string) => keys.filter((k) => k.alg === alg);

describe('bin/latch keys', () => {
  it('list says there are none before the server first started', async () => {
    const r = await run(['keys', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no signing keys yet (the server creates them when it starts)\n');
    expect((await run(['keys', 'list', '--json'])).json).toEqual({ keys: [] });
  });

  it('rotate --alg RS256 creates what is missing, rotates only RS256 and prints {"keys":[{kid,alg,state,created_at}]}', async () => {
    const r = await run(['keys', 'rotate', '--alg', 'RS256', '--json']);
    expect(r.code).toBe(0);
    const keys: Key[] = r.json.keys;
    for (const k of keys) expect(Object.keys(k)).toEqual(['kid', 'alg', 'state', 'created_at']);
    expect(keys[0]!.created_at).toBe(Math.floor(clock.now().getTime() / 1000));
    expect(byAlg(keys, 'RS256').map((k) => k.state).sort()).toEqual(['current', 'next', 'retired']);
    expect(byAlg(keys, 'ES256').map((k) => k.state).sort()).toEqual(['current', 'next']);
    expect(byAlg(keys, 'EdDSA').map((k) => k.state).sort()).toEqual(['current', 'next']);
    // The audit log says who rotated what: the operator, RS256, from the retired kid to the new current one.
    const events = await t.db.selectFrom('audit_events').selectAll().where('action', '=', 'key.rotate').execute();
    expect(events).toHaveLength(1);
    const current = byAlg(keys, 'RS256').find((k) => k.state === 'current')!.kid;
    const retired = byAlg(keys, 'RS256').find((k) => k.state === 'retired')!.kid;
    expect(events[0]).toMatchObject({ actor: 'operator', target: 'RS256', outcome: 'success' });
    expect(events[0]!.details).toEqual({ alg: 'RS256', retired, current, automatic: false });
  });

  it('rotate without --alg rotates every algorithm, promoting each next key', async () => {
    const before: Key[] = (await run(['keys', 'list', '--json'])).json.keys;
    clock.advance(60);
    const after: Key[] = (await run(['keys', 'rotate', '--json'])).json.keys;
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const next = byAlg(before, alg).find((k) => k.state === 'next')!;
      const current = byAlg(before, alg).find((k) => k.state === 'current')!;
      expect(after.find((k) => k.kid === next.kid)!.state).toBe('current');
      expect(after.find((k) => k.kid === current.kid)!.state).toBe('retired');
    }
  });

  it('list prints one line per key for people', async () => {
    const r = await run(['keys', 'list']);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe((await run(['keys', 'list', '--json'])).json.keys.length);
    expect(lines[0]).toMatch(/^\S+ {2}(RS256|ES256|EdDSA) *\s{2}(next|current|retired) *\s{2}\d{4}-\d\d-\d\dT/);
  });

  it('refuses an unknown --alg with one line and exit 2', async () => {
    const r = await run(['keys', 'rotate', '--alg', 'HS256']);
    expect(r.code).toBe(2);
    // The database line every command prints, then the one error line.
    expect(r.stderr).toMatch(/^latch: database: [^\n]+\nlatch keys rotate: --alg expects one of RS256, ES256, EdDSA \(got "HS256"\)\n$/);
  });
});
