import { beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/secrets.js';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { basic, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { pageGet, pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';
import { pkce } from '../helpers/pkce.js';

/** Manual approval: new apps wait for an administrator. */
const t = useTestContext({ LATCH_APP_APPROVAL: 'manual' });
/** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
const clock = withClock(t);
let owner: Awaited<ReturnType<typeof makeUser>>;
let user: Awaited<ReturnType<typeof makeUser>>;
let admin: Awaited<ReturnType<typeof makeUser>>;
let asOwner: SignedIn;
let asUser: SignedIn;
let asAdmin: SignedIn;

const REDIRECT = 'https://photosync.example/callback';

beforeAll(async () => {
  owner = await makeUser(t, { username: 'app-owner' });
  user = await makeUser(t, { username: 'end-user' });
  admin = await makeUser(t, { username: 'approver', isAdmin: true });
  asOwner = await signedInAs(t, owner.id);
  asUser = await signedInAs(t, user.id);
  asAdmin = await signedInAs(t, admin.id);
});

async function register(name: string) {
  const r = await pagePost(t, asOwner, '/apps', validApp({ name, grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] }));
  expect(r.statusCode).toBe(201);
  return { clientId: byId(r.body, 'client-id')!, secret: byId(r.body, 'client-secret')!, html: r.body };
}

const status = async (clientId: string) =>
  (await t.db.selectFrom('clients').select('status').where('client_id', '=', clientId).executeTakeFirstOrThrow()).status;

/** The version of the app the administrators' page shows now, as its forms carry it ('0' when not shown). */
async function versionShown(clientId: string): Promise<string> {
  const page = (await pageGet(t, asAdmin, '/admin/apps')).body;
  const item = page.slice(page.indexOf(`id="app-${clientId}"`));
  return /name="version" value="(\d+)"/.exec(item)?.[1] ?? '0';
}

/** A decision as the administrators' page would post it, just loaded. */
const decide = async (who: SignedIn, clientId: string, decision: string, reason?: string) =>
  pagePost(t, who, `/admin/apps/${clientId}/${decision}`, { version: await versionShown(clientId), ...(reason === undefined ? {} : { reason }) });

/** The start of an authorization-code flow, as a signed-in end user's browser would send it. */
function startFlow(clientId: string) {
  const { challenge } = pkce();
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'read', state: 's1', code_challenge: challenge, code_challenge_method: 'S256' });
  return pageGet(t, asUser, `/oauth/authorize?${q}`);
}

const clientCredentials = (clientId: string, secret: string) =>
  t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    payload: 'grant_type=client_credentials&scope=read',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
  });

const bearer = (token: string) =>
  t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${token}` } });

/** Asserts that the app can neither start a flow nor get tokens. */
async function expectBlocked(clientId: string, secret: string) {
  const flow = await startFlow(clientId);
  expect(flow.statusCode).toBe(400);
  expect(flow.headers['content-type']).toContain('text/html');
  expect(flow.headers.location).toBeUndefined();
  expect(byId(flow.body, 'error-code')).toBe('invalid_application_status');
  const token = await clientCredentials(clientId, secret);
  expect(token.statusCode).toBe(400);
  expect(token.json().error).toBe('invalid_application_status');
}

async function expectWorking(clientId: string, secret: string) {
  const flow = await startFlow(clientId);
  expect(flow.statusCode).toBe(200);
  expect(flow.body).toContain('id="consent-form"');
  const token = await clientCredentials(clientId, secret);
  expect(token.statusCode).toBe(200);
  return token.json().access_token as string;
}

describe('who may use /admin/apps', () => {
  it('signed out: sent to the login page', async () => {
    const r = await pageGet(t, null, '/admin/apps');
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/login?return_to=%2Fadmin%2Fapps');
  });

  it('signed out: a decision is sent to the login page and changes nothing', async () => {
    const { clientId } = await register('Signed-out decision');
    const r = await pagePost(t, null, `/admin/apps/${clientId}/approve`);
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toMatch(/^\/login\?return_to=/);
    expect(await status(clientId)).toBe('pending');
  });

  it('a user who is not an administrator gets 404, for the page and for every decision', async () => {
    const { clientId } = await register('Not for you');
    const page = await pageGet(t, asOwner, '/admin/apps');
    expect(page.statusCode).toBe(404);
    expect(page.body).not.toContain('Not for you');
    for (const d of ['approve', 'deny', 'suspend']) {
      const r = await decide(asOwner, clientId, d, 'because');
      expect(r.statusCode, d).toBe(404);
    }
    expect(await status(clientId)).toBe('pending');
    expect(await t.db.selectFrom('client_decisions').select('id').execute()).toHaveLength(0);
  });

  it('a decision without the form\'s CSRF token is refused (403) and changes nothing', async () => {
    const { clientId } = await register('CSRF guarded');
    const r = await pagePost(t, asAdmin, `/admin/apps/${clientId}/approve`, { _csrf: asAdmin.csrf(`/admin/apps/${clientId}/deny`) });
    expect(r.statusCode).toBe(403);
    expect(await status(clientId)).toBe('pending');
  });

  it('unknown decisions and unknown apps are 404', async () => {
    const { clientId } = await register('Unknown decision');
    expect((await decide(asAdmin, clientId, 'delete')).statusCode).toBe(404);
    expect((await decide(asAdmin, 'ffffffffffffffffffffffffffffffff', 'approve')).statusCode).toBe(404);
    expect(await status(clientId)).toBe('pending');
  });
});

describe('manual approval', () => {
  it('a new app is pending: the owner is told, and it can neither start a flow nor get tokens', async () => {
    const { clientId, secret, html } = await register('Waiting app');
    expect(html).toContain('waits for an administrator to approve it');
    expect(await status(clientId)).toBe('pending');
    const page = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(page.body, 'status-note')).toContain('Waiting for an administrator');
    expect(page.body).not.toContain('id="token-form"');
    await expectBlocked(clientId, secret);
  });

  it('a pending app cannot get test tokens through a forged form either', async () => {
    const { clientId } = await register('No tokens yet');
    const r = await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read' });
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-token')).toContain('pending');
    const row = await t.db.selectFrom('clients').select('id').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(await t.db.selectFrom('access_tokens').select('id').where('client_id', '=', row.id).execute()).toHaveLength(0);
  });

  it('the administrator sees pending apps with owner and date, approves one, and the decision is recorded with who and when', async () => {
    const { clientId, secret } = await register('Approve me');
    const page = await pageGet(t, asAdmin, '/admin/apps');
    expect(page.statusCode).toBe(200);
    const pending = page.body.slice(page.body.indexOf('id="pending"'), page.body.indexOf('id="active"'));
    expect(pending).toContain(`id="app-${clientId}"`);
    expect(pending).toContain('Approve me');
    expect(pending).toContain('app-owner');
    expect(pending).toContain('2030-01-01');

    clock.advance(60);
    const r = await decide(asAdmin, clientId, 'approve');
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/admin/apps#app-${clientId}`);
    expect(await status(clientId)).toBe('active');
    const row = await t.db.selectFrom('clients').select('id').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    const decisions = await t.db.selectFrom('client_decisions').selectAll().where('client_id', '=', row.id).execute();
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ decision: 'approve', decided_by: admin.id, reason: null });
    expect(decisions[0]!.decided_at.getTime()).toBe(t.clock.now().getTime());
    // The owner sees the history.
    const ownerPage = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(ownerPage.body, 'decisions')).toContain('approve by approver');
    await expectWorking(clientId, secret);
  });

  it('deny needs a reason; with one, the owner sees it and the app stays blocked', async () => {
    const { clientId, secret } = await register('Deny me');
    const noReason = await decide(asAdmin, clientId, 'deny', '  ');
    expect(noReason.statusCode).toBe(400);
    expect(byId(noReason.body, 'decision-error')).toContain('say why');
    expect(await status(clientId)).toBe('pending');

    const r = await decide(asAdmin, clientId, 'deny', 'Redirect URI points at a <b>phishing</b> host');
    expect(r.statusCode).toBe(303);
    expect(await status(clientId)).toBe('denied');
    const page = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(page.body, 'status-reason')).toBe('Redirect URI points at a <b>phishing</b> host');
    expect(page.body).toContain('&lt;b&gt;phishing');
    const list = await pageGet(t, asOwner, '/apps');
    expect(list.body).toContain('Reason given: Redirect URI points at a &lt;b&gt;phishing&lt;/b&gt; host');
    await expectBlocked(clientId, secret);

    // A denied app may still be approved later.
    expect((await decide(asAdmin, clientId, 'approve')).statusCode).toBe(303);
    await expectWorking(clientId, secret);
  });

  it('suspending ends the app\'s live tokens and blocks it; reinstating lets it work again with new tokens', async () => {
    const { clientId, secret } = await register('Suspend me');
    expect((await decide(asAdmin, clientId, 'approve')).statusCode).toBe(303);
    const appToken = await expectWorking(clientId, secret);
    const pat = byId((await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read' })).body, 'personal-token')!;
    expect((await bearer(pat)).statusCode).toBe(200);

    const r = await decide(asAdmin, clientId, 'suspend', 'Abuse report #12');
    expect(r.statusCode).toBe(303);
    expect(await status(clientId)).toBe('suspended');
    for (const token of [appToken, pat]) {
      const row = await t.db.selectFrom('access_tokens').select('revoked_at').where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
      expect(row.revoked_at).not.toBeNull();
    }
    expect((await bearer(pat)).statusCode).toBe(401);
    await expectBlocked(clientId, secret);
    const page = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(page.body, 'status-reason')).toBe('Abuse report #12');

    const admins = await pageGet(t, asAdmin, '/admin/apps');
    const suspended = admins.body.slice(admins.body.indexOf('id="suspended"'), admins.body.indexOf('id="denied"'));
    expect(suspended).toContain(`id="app-${clientId}"`);
    expect(suspended).toContain(`/admin/apps/${clientId}/reinstate`);

    expect((await decide(asAdmin, clientId, 'reinstate')).statusCode).toBe(303);
    expect(await status(clientId)).toBe('active');
    await expectWorking(clientId, secret);
    // Tokens ended by the suspension stay ended.
    expect((await bearer(pat)).statusCode).toBe(401);

    const row = await t.db.selectFrom('clients').select('id').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    const history = await t.db.selectFrom('client_decisions').select(['decision', 'decided_by', 'reason']).where('client_id', '=', row.id).orderBy('decided_at').execute();
    expect(history.map((h) => h.decision)).toEqual(['approve', 'suspend', 'reinstate']);
    expect(history.every((h) => h.decided_by === admin.id)).toBe(true);
    expect(history[1]!.reason).toBe('Abuse report #12');
  });

  it('a decision the app\'s state does not allow is refused beside the app, changing nothing', async () => {
    const { clientId } = await register('Wrong transition');
    const r = await decide(asAdmin, clientId, 'reinstate');
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'decision-error')).toBe('cannot reinstate a client that is pending');
    expect(await status(clientId)).toBe('pending');
  });

  it('the admin page offers each state its own actions', async () => {
    const page = (await pageGet(t, asAdmin, '/admin/apps')).body;
    const section = (id: string, next: string | null) => page.slice(page.indexOf(`id="${id}"`), next ? page.indexOf(`id="${next}"`) : undefined);
    expect(section('pending', 'active')).toMatch(/decision-approve[\s\S]*decision-deny[\s\S]*decision-suspend/);
    expect(section('active', 'suspended')).not.toContain('decision-approve');
    expect(section('active', 'suspended')).toContain('decision-suspend');
    expect(section('suspended', 'denied')).not.toContain('decision-suspend');
  });
});

describe('owners\' edits under manual approval', () => {
  const edit = (clientId: string, overrides: Record<string, string | string[]>, who = asOwner) =>
    pagePost(t, who, `/apps/${clientId}/edit`, validApp({ name: 'Edited app', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], ...overrides }));

  async function approved() {
    const app = await register('Edited app');
    expect((await decide(asAdmin, app.clientId, 'approve')).statusCode).toBe(303);
    return app;
  }

  it('the edit form warns the owner which changes need approval again', async () => {
    const { clientId } = await approved();
    expect(byId((await pageGet(t, asOwner, `/apps/${clientId}/edit`)).body, 'review-note')).toContain('sends it back to an administrator');
    expect((await pageGet(t, asAdmin, `/apps/${clientId}/edit`)).body).not.toContain('id="review-note"');
  });

  it('adding a redirect URI sends an approved app back to pending: it stops working until approved again', async () => {
    const { clientId, secret } = await approved();
    const r = await edit(clientId, { redirect_uris: `${REDIRECT}\nhttps://elsewhere.example/cb` });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/apps/${clientId}?notice=review`);
    expect(await status(clientId)).toBe('pending');
    expect(byId((await pageGet(t, asOwner, r.headers.location as string)).body, 'notice')).toContain('needs to approve the changes');
    await expectBlocked(clientId, secret);
    expect((await decide(asAdmin, clientId, 'approve')).statusCode).toBe(303);
    await expectWorking(clientId, secret);
  });

  it.each([
    ['a new name', { name: 'Totally Official Bank' }],
    ['a new scope', { scopes: ['read', 'write'] }],
    ['a new grant type', { grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] }],
  ])('%s needs approval again too', async (_what, overrides) => {
    const { clientId } = await approved();
    // Narrow first (no review), so that adding the scope or grant type back is a widening.
    const narrowed: Record<string, string[]> | null = 'scopes' in overrides ? { scopes: ['read'] } : 'grant_types' in overrides ? { grant_types: ['authorization_code', 'refresh_token'] } : null;
    if (narrowed) {
      expect((await edit(clientId, narrowed)).headers.location).toContain('notice=saved');
      expect(await status(clientId)).toBe('active');
    }
    const r = await edit(clientId, overrides);
    expect(r.headers.location).toContain('notice=review');
    expect(await status(clientId)).toBe('pending');
  });

  it('narrowing or describing an approved app keeps it active', async () => {
    const { clientId, secret } = await approved();
    const r = await edit(clientId, { redirect_uris: REDIRECT, description: 'Now with a better description', website: 'https://new-site.example' });
    expect(r.headers.location).toBe(`/apps/${clientId}?notice=saved`);
    expect(await status(clientId)).toBe('active');
    await expectWorking(clientId, secret);
  });

  it('an administrator\'s edit changes no status', async () => {
    const { clientId } = await approved();
    const r = await edit(clientId, { redirect_uris: `${REDIRECT}\nhttps://admin-added.example/cb` }, asAdmin);
    expect(r.headers.location).toContain('notice=saved');
    expect(await status(clientId)).toBe('active');
  });

  it('editing a denied app asks for approval again, and clears the old reason', async () => {
    const { clientId } = await register('Edited app');
    expect((await decide(asAdmin, clientId, 'deny', 'Needs a real website')).statusCode).toBe(303);
    const r = await edit(clientId, { website: 'https://real-site.example' });
    expect(r.headers.location).toContain('notice=review');
    const row = await t.db.selectFrom('clients').select(['status', 'status_reason']).where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'pending', status_reason: null });
    const admins = await pageGet(t, asAdmin, '/admin/apps');
    const pending = admins.body.slice(admins.body.indexOf('id="pending"'), admins.body.indexOf('id="active"'));
    expect(pending).toContain(`id="app-${clientId}"`);
  });

  it('a suspended app stays suspended whatever its owner edits', async () => {
    const { clientId } = await approved();
    expect((await decide(asAdmin, clientId, 'suspend', 'abuse')).statusCode).toBe(303);
    expect((await edit(clientId, { redirect_uris: `${REDIRECT}\nhttps://new.example/cb` })).statusCode).toBe(303);
    expect(await status(clientId)).toBe('suspended');
  });
});
