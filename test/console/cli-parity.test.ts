import { beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/secrets.js';
import { saveConsent } from '../../src/store/consents.js';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { pageGet, pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

/** What the console does in the browser, bin/latch does on the command line, over the same rows. */
const t = useTestContext({ LATCH_APP_APPROVAL: 'manual' });
let owner: Awaited<ReturnType<typeof makeUser>>;
let asOwner: SignedIn;
const run = (argv: string[]) => cli(argv, { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });

beforeAll(async () => {
  owner = await makeUser(t, { username: 'console-dev' });
  asOwner = await signedInAs(t, owner.id);
});

async function register(name: string) {
  const r = await pagePost(t, asOwner, '/apps', validApp({ name }));
  expect(r.statusCode).toBe(201);
  return byId(r.body, 'client-id')!;
}

describe('bin/latch and the console agree', () => {
  it('client list --json shows a console app with its status and owner, and never a secret', async () => {
    const clientId = await register('Listed in CLI');
    const r = await run(['client', 'list', '--json']);
    expect(r.code).toBe(0);
    const listed = r.json.clients.find((c: { client_id: string }) => c.client_id === clientId);
    expect(listed).toMatchObject({ name: 'Listed in CLI', status: 'pending', owner: 'console-dev' });
    expect(r.stdout).not.toMatch(/latch_cs_|secret_digest/);
    const mine = await run(['client', 'list', '--owner', 'console-dev', '--status', 'pending', '--json']);
    expect(mine.json.clients.map((c: { client_id: string }) => c.client_id)).toContain(clientId);
  });

  it('client deny --reason: the owner reads the reason in the console; client approve makes it active there', async () => {
    const clientId = await register('Denied in CLI');
    const denied = await run(['client', 'deny', clientId, '--reason', 'Add a privacy policy URL', '--json']);
    expect(denied.code).toBe(0);
    expect(denied.json).toEqual({ client_id: clientId, status: 'denied' });
    const page = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(page.body, 'status-reason')).toBe('Add a privacy policy URL');
    expect(byId(page.body, 'decisions')).toContain('deny by an operator (command line): Add a privacy policy URL');
    expect((await run(['client', 'approve', clientId])).code).toBe(0);
    expect((await pageGet(t, asOwner, `/apps/${clientId}`)).body).toContain('data-status="active"');
  });

  it('client show --json tells how many users authorized the app, as the console does, and who decided what', async () => {
    const clientId = await register('Shown in CLI');
    await run(['client', 'approve', clientId]);
    const row = await t.db.selectFrom('clients').select('id').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    const fan = await makeUser(t);
    await saveConsent(t.db, fan.id, row.id, 'read', t.clock.now());
    const r = await run(['client', 'show', clientId, '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ client_id: clientId, owner: 'console-dev', status: 'active', authorized_users: 1 });
    expect(r.json.decisions).toEqual([expect.objectContaining({ decision: 'approve', decided_by: null })]);
    expect(byId((await pageGet(t, asOwner, `/apps/${clientId}`)).body, 'authorized-users')).toBe('1');
  });

  it('client update changes what the console shows, and reports the owner', async () => {
    const clientId = await register('Updated in CLI');
    const r = await run(['client', 'update', clientId, '--name', 'Renamed in CLI', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ name: 'Renamed in CLI', owner: 'console-dev' });
    expect(byId((await pageGet(t, asOwner, `/apps/${clientId}`)).body, 'app-name')).toContain('Renamed in CLI');
  });

  it('token list shows a test token made in the console; token revoke ends it', async () => {
    const clientId = await register('Tokens in CLI');
    await run(['client', 'approve', clientId]);
    const made = await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read', label: 'from the browser' });
    const token = byId(made.body, 'personal-token')!;
    const listed = await run(['token', 'list', '--client', clientId, '--json']);
    expect(listed.json.tokens).toEqual([expect.objectContaining({ label: 'from the browser', user: 'console-dev', scope: 'read', revoked: false })]);
    expect(listed.stdout).not.toContain(token);
    const revoked = await run(['token', 'revoke', listed.json.tokens[0].id, '--client', clientId]);
    expect(revoked.code).toBe(0);
    const row = await t.db.selectFrom('access_tokens').select('revoked_at').where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
    expect((await pageGet(t, asOwner, `/apps/${clientId}`)).body).toMatch(/from the browser[\s\S]*revoked/);
  });

  it('client rotate-secret and client delete act on console apps', async () => {
    const clientId = await register('Deleted in CLI');
    const rotated = await run(['client', 'rotate-secret', clientId, '--json']);
    expect(rotated.json.client_secret).toMatch(/^latch_cs_/);
    expect((await run(['client', 'delete', clientId])).code).toBe(0);
    expect((await pageGet(t, asOwner, `/apps/${clientId}`)).statusCode).toBe(404);
  });
});
