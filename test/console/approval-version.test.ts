import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { ClientChangedError, decideClient } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { findClientByClientId } from '../../src/store/clients.js';
import { validApp } from './helpers.js';
import { pageGet, pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

/** Manual approval: a decision applies to the app as the administrator saw it. */
const t = useTestContext({ LATCH_APP_APPROVAL: 'manual' });
let asOwner: SignedIn;
let asAdmin: SignedIn;
let adminId: string;

beforeAll(async () => {
  asOwner = await signedInAs(t, (await makeUser(t, { username: 'version-owner' })).id);
  adminId = (await makeUser(t, { username: 'version-admin', isAdmin: true })).id;
  asAdmin = await signedInAs(t, adminId);
});

const ORIGINAL = 'https://reviewed.example/callback';
const SWAPPED = 'https://attacker.example/callback';

async function register(name: string): Promise<string> {
  const r = await pagePost(t, asOwner, '/apps', validApp({ name, redirect_uris: ORIGINAL }));
  expect(r.statusCode).toBe(201);
  return byId(r.body, 'client-id')!;
}

/** The version field of `clientId`'s forms on the administrators' page, as loaded now. */
async function adminPageVersion(clientId: string): Promise<string> {
  const page = (await pageGet(t, asAdmin, '/admin/apps')).body;
  const item = page.slice(page.indexOf(`id="app-${clientId}"`));
  const version = /name="version" value="(\d+)"/.exec(item)?.[1];
  expect(version, 'the decision forms carry the version').toBeDefined();
  return version!;
}

const status = async (clientId: string) => (await findClientByClientId(t.db, clientId))!.status;
const decisions = async () => (await t.db.selectFrom('client_decisions').select('id').execute()).length;

describe('approval is tied to what the administrator saw', () => {
  it('an owner\'s edit between loading the page and approving is refused (409), the page shows the app again', async () => {
    const clientId = await register('Swapped after review');
    const seen = await adminPageVersion(clientId);
    // The owner edits in the same millisecond (the clock does not move): still a new version.
    const edit = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Swapped after review', redirect_uris: SWAPPED }));
    expect(edit.statusCode).toBe(303);
    const before = await decisions();

    const r = await pagePost(t, asAdmin, `/admin/apps/${clientId}/approve`, { version: seen });
    expect(r.statusCode).toBe(409);
    expect(byId(r.body, 'decision-error')).toMatch(/changed since the page was loaded/);
    expect(r.body).toContain(SWAPPED);
    expect(await status(clientId)).toBe('pending');
    expect(await decisions()).toBe(before);

    // Having seen the new settings, the administrator can decide.
    const again = await pagePost(t, asAdmin, `/admin/apps/${clientId}/approve`, { version: await adminPageVersion(clientId) });
    expect(again.statusCode).toBe(303);
    expect(await status(clientId)).toBe('active');
  });

  it('a decision without the version is refused and changes nothing', async () => {
    const clientId = await register('No version');
    const r = await pagePost(t, asAdmin, `/admin/apps/${clientId}/approve`, {});
    expect(r.statusCode).toBe(400);
    expect(await status(clientId)).toBe('pending');
  });

  it('the check and the decision are one statement: a change after the check still wins', async () => {
    const clientId = await register('Raced');
    const loaded = (await findClientByClientId(t.db, clientId))!;
    // The owner's edit lands after the administrator's request loaded the app, before its update.
    await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Raced', redirect_uris: SWAPPED }));
    const before = await decisions();
    await expect(
      decideClient(t, { ...OPERATOR, actor: { kind: 'user', id: adminId, name: 'admin', isAdmin: true } }, clientId, 'approve', { version: loaded.updated_at }),
    ).rejects.toBeInstanceOf(ClientChangedError);
    expect(await status(clientId)).toBe('pending');
    expect(await decisions()).toBe(before);
  });

  it('the CLI (no version) acts on the current state', async () => {
    const clientId = await register('Operator');
    await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Operator', redirect_uris: SWAPPED }));
    const current = (await findClientByClientId(t.db, clientId))!;
    await decideClient(t, OPERATOR, current.client_id, 'approve');
    expect(await status(clientId)).toBe('active');
  });
});
