import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { cli } from '../helpers/cli.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { signedInAs } from '../helpers/session.js';
import { lastEvent } from '../audit/helpers.js';

const t = useTestContext();
const run = (argv: string[]) => cli(argv, { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });

beforeAll(async () => {
  await makeUser(t, { username: 'cli-admin', isAdmin: true, email: 'admin@example.org' });
});

describe('bin/latch user list|show|update|disable|enable|delete', () => {
  it('list searches and pages with --json; bad options exit 1 with a message', async () => {
    for (let i = 0; i < 5; i++) await makeUser(t, { username: `listme${i}`, email: `l${i}@Example.net` });
    const first = await run(['user', 'list', '--query', 'EXAMPLE.NET', '--limit', '3', '--json']);
    expect(first.code).toBe(0);
    expect(first.json.users.map((u: { username: string }) => u.username)).toEqual(['listme0', 'listme1', 'listme2']);
    expect(first.json.users[0]).toMatchObject({ email: 'l0@Example.net', admin: false, disabled: false });
    expect(first.json.users[0]).not.toHaveProperty('password_hash');
    const second = await run(['user', 'list', '--query', 'example.net', '--limit', '3', '--after', first.json.next, '--json']);
    expect(second.json.users.map((u: { username: string }) => u.username)).toEqual(['listme3', 'listme4']);
    expect(second.json.next).toBeNull();
    const bad = await run(['user', 'list', '--limit', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('limit: expected a whole number from 1 to 1000');
  });

  it('show, disable (token refused at once), enable, update and delete, each audited as the operator', async () => {
    const app = await makeClient(t, { grantTypes: ['password'] });
    const u = await makeUser(t, { username: 'cli-target' });
    const token = (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: u.username, password: u.password }, asAuth(app))).json().access_token;
    await signedInAs(t, u.id);
    const shown = await run(['user', 'show', 'cli-target', '--json']);
    expect(shown.code).toBe(0);
    expect(shown.json).toMatchObject({ id: u.id, username: 'cli-target', disabled: false, second_factors: { totp: false, recovery_codes: 0 } });
    expect(shown.json.sessions).toHaveLength(1);
    expect(shown.json.last_signin.at).toBe(Math.floor(t.clock.now().getTime() / 1000));

    const disabled = await run(['user', 'disable', 'cli-target', '--json']);
    expect(disabled.json).toMatchObject({ username: 'cli-target', disabled: true, changed: true });
    expect((await clientPost(t.app, '/oauth/introspect', { token }, asAuth(app))).json()).toEqual({ active: false });
    expect(await lastEvent(t, 'user.disable')).toMatchObject({ actor: 'operator', actor_kind: 'operator', target_user_id: u.id });
    expect((await run(['user', 'disable', u.id, '--json'])).json.changed).toBe(false);

    expect((await run(['user', 'enable', 'cli-target', '--json'])).json).toMatchObject({ disabled: false, changed: true });
    expect(await lastEvent(t, 'user.enable')).toMatchObject({ actor: 'operator', target_user_id: u.id });

    const updated = await run(['user', 'update', 'cli-target', '--username', 'cli-renamed', '--email', 'new@example.org', '--admin', '--json']);
    expect(updated.code).toBe(0);
    expect(updated.json).toMatchObject({ username: 'cli-renamed', email: 'new@example.org', email_verified: false, admin: true });
    expect((await lastEvent(t, 'user.update'))!.details).toMatchObject({ changed: ['username', 'email'], from: 'cli-target' });
    expect(await lastEvent(t, 'user.admin_grant')).toMatchObject({ target_user_id: u.id });
    const taken = await run(['user', 'update', 'cli-renamed', '--username', 'CLI-ADMIN']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('username: is already taken');

    const deleted = await run(['user', 'delete', 'cli-renamed', '--json']);
    expect(deleted.json).toEqual({ id: u.id, username: 'cli-renamed', deleted: true });
    expect(await lastEvent(t, 'user.delete')).toMatchObject({ actor: 'operator', target_user_id: u.id });
    const gone = await run(['user', 'show', 'cli-renamed']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no user "cli-renamed"');
  });

  it('never takes the last administrator', async () => {
    const r = await run(['user', 'update', 'cli-admin', '--no-admin']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is the last administrator');
    expect((await run(['user', 'disable', 'cli-admin'])).code).toBe(1);
    expect((await run(['user', 'delete', 'cli-admin'])).code).toBe(1);
    expect((await run(['user', 'show', 'cli-admin', '--json'])).json).toMatchObject({ admin: true, disabled: false });
  });

  it('refuses a bad command line with exit 2', async () => {
    expect((await run(['user', 'update', 'cli-admin'])).code).toBe(2);
    expect((await run(['user', 'update', 'cli-admin', '--admin', '--no-admin'])).code).toBe(2);
    expect((await run(['user', 'disable'])).code).toBe(2);
  });
});
