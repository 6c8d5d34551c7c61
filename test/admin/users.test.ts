import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { asAuth, clientPost, form, pageGet, pagePost } from '../helpers/forms.js';
import { byId, decodeEntities } from '../helpers/html.js';
import { lastEvent } from '../audit/helpers.js';
import { saveConsent } from '../../src/store/consents.js';
import { savePendingTotp, acceptTotpStep, replaceRecoveryCodes } from '../../src/store/totp.js';

const t = useTestContext();
let admin: Awaited<ReturnType<typeof makeUser>>;
let asAdmin: SignedIn;
let app: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  admin = await makeUser(t, { username: 'root-admin', isAdmin: true });
  asAdmin = await signedInAs(t, admin.id);
  app = await makeClient(t, { name: 'Photo Sync', grantTypes: ['password', 'refresh_token'] });
});

/** Tokens from the password grant: the user signs in through verifySignIn, as the login page does. */
async function tokensOf(user: { username: string; password: string }) {
  return clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope: 'read' }, asAuth(app));
}
const introspect = async (token: string) => (await clientPost(t.app, '/oauth/introspect', { token }, asAuth(app))).json().active as boolean;
const userPage = (id: string, who: SignedIn = asAdmin) => pageGet(t, who, `/admin/users/${id}`);
const act = (id: string, action: string, values: Record<string, string> = {}, who: SignedIn = asAdmin) => pagePost(t, who, `/admin/users/${id}/${action}`, values);

describe('who may use /admin/users', () => {
  it('is for administrators: others get 404, the signed-out the login page', async () => {
    const plain = await makeUser(t);
    const asPlain = await signedInAs(t, plain.id);
    expect((await pageGet(t, asPlain, '/admin/users')).statusCode).toBe(404);
    expect((await userPage(plain.id, asPlain)).statusCode).toBe(404);
    expect((await act(plain.id, 'disable', { confirm: 'yes' }, asPlain)).statusCode).toBe(404);
    const out = await pageGet(t, null, '/admin/users');
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login?return_to=%2Fadmin%2Fusers');
    const ok = await pageGet(t, asAdmin, '/admin/users');
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('id="user-search"');
    expect(ok.headers['cache-control']).toBe('no-store');
  });

  it('refuses every action without the CSRF token (403), changing nothing', async () => {
    const u = await makeUser(t);
    for (const action of ['disable', 'enable', 'grant-admin', 'revoke-admin', 'reset-second-factors', 'reset-link', 'delete']) {
      const r = await act(u.id, action, { _csrf: 'forged', confirm: action === 'delete' ? u.username : 'yes' });
      expect(r.statusCode, action).toBe(403);
    }
    const row = await t.db.selectFrom('users').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.disabled_at).toBeNull();
    expect(row.is_admin).toBe(false);
  });
});

describe('search', () => {
  it('finds by part of the username or e-mail in any case, and by id; other users are not listed', async () => {
    const carol = await makeUser(t, { username: 'carol-search', email: 'Carol.S@Example.org' });
    await makeUser(t, { username: 'dave-search', email: 'dave@elsewhere.net' });
    const names = (html: string) => [...html.matchAll(/class="user-link">([^<]+)</g)].map((m) => m[1]);
    expect(names((await pageGet(t, asAdmin, '/admin/users?q=CAROL')).body)).toEqual(['carol-search']);
    expect(names((await pageGet(t, asAdmin, '/admin/users?q=example.ORG')).body)).toEqual(['carol-search']);
    expect(names((await pageGet(t, asAdmin, `/admin/users?q=${carol.id}`)).body)).toEqual(['carol-search']);
    expect(names((await pageGet(t, asAdmin, '/admin/users?q=-search')).body)).toEqual(['carol-search', 'dave-search']);
  });

  it('treats the search text as text: LIKE wildcards and SQL match only themselves', async () => {
    await makeUser(t, { username: 'under_score' });
    const names = (html: string) => [...html.matchAll(/class="user-link">([^<]+)</g)].map((m) => m[1]);
    expect(names((await pageGet(t, asAdmin, '/admin/users?q=%25')).body)).toEqual([]);
    expect(names((await pageGet(t, asAdmin, `/admin/users?q=${encodeURIComponent('r_s')}`)).body)).toEqual(['under_score']);
    const injection = await pageGet(t, asAdmin, `/admin/users?q=${encodeURIComponent("' or 1=1 --")}`);
    expect(injection.statusCode).toBe(200);
    expect(names(injection.body)).toEqual([]);
    expect(await t.db.selectFrom('users').select('id').execute()).not.toHaveLength(0);
  });

  it('answers bad parameters with 400 and a message', async () => {
    const cases: Array<[string, string]> = [
      [`q=${'x'.repeat(201)}`, 'search: must be at most 200 characters'],
      ['q=a&q=b', 'search: give it once'],
      ['after=***', 'page: is not a page cursor'],
      [`q=${encodeURIComponent('a\tb')}`, 'search: must be one line of text'],
    ];
    for (const [query, message] of cases) {
      const r = await pageGet(t, asAdmin, `/admin/users?${query}`);
      expect(r.statusCode, query).toBe(400);
      expect(decodeEntities(byId(r.body, 'users-error') ?? ''), query).toContain(message);
    }
    expect((await pageGet(t, asAdmin, '/admin/users/not-a-uuid')).statusCode).toBe(404);
    expect((await pageGet(t, asAdmin, '/admin/users/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  });
});

describe("a user's page", () => {
  it('shows sessions, authorized apps, second factors without secrets, and the last sign-in', async () => {
    const erin = await makeUser(t, { username: 'erin-page', email: 'erin@example.org' });
    expect((await tokensOf(erin)).statusCode).toBe(200);
    await signedInAs(t, erin.id);
    await saveConsent(t.db, erin.id, app.id, 'read', t.clock.now());
    await savePendingTotp(t.db, { userId: erin.id, secretSealed: 'sealed-secret-not-shown', now: t.clock.now() });
    await acceptTotpStep(t.db, erin.id, 1, { confirmAt: t.clock.now() });
    await replaceRecoveryCodes(t.db, erin.id, ['d1', 'd2', 'd3']);
    const r = await userPage(erin.id);
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('erin@example.org');
    expect(r.body.match(/class="session"/g)).toHaveLength(1);
    expect(byId(r.body, 'authorized-apps')).toContain('Photo Sync');
    expect(decodeEntities(byId(r.body, 'second-factors') ?? '')).toContain('TOTP on, 3 recovery codes left');
    expect(byId(r.body, 'last-signin')).toContain(t.clock.now().toISOString().slice(0, 10));
    expect(r.body).not.toContain('sealed-secret-not-shown');
    expect(r.body).toContain('id="user-disable-form"');
    expect(r.body).toContain('id="user-reset-link-form"');
  });
});

describe('actions, each with its audit event', () => {
  it('disable: sessions, tokens and consents end at once, sign-in is refused neutrally; enable lets them back', async () => {
    const frank = await makeUser(t, { username: 'frank-disable' });
    const tokens = (await tokensOf(frank)).json();
    const session = await signedInAs(t, frank.id);
    await saveConsent(t.db, frank.id, app.id, 'read', t.clock.now());
    expect(await introspect(tokens.access_token)).toBe(true);

    expect((await act(frank.id, 'disable')).statusCode).toBe(400); // not confirmed
    expect(await introspect(tokens.access_token)).toBe(true);
    const r = await act(frank.id, 'disable', { confirm: 'yes' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe(`/admin/users/${frank.id}?done=disable`);

    expect(await introspect(tokens.access_token)).toBe(false);
    expect(await introspect(tokens.refresh_token)).toBe(false);
    const me = await t.app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.statusCode).toBe(401);
    const refresh = await clientPost(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, asAuth(app));
    expect(refresh.json().error).toBe('invalid_grant');
    expect((await pageGet(t, session, '/account/apps')).statusCode).toBe(303);
    expect(await t.db.selectFrom('sessions').select('sid').where('user_id', '=', frank.id).execute()).toEqual([]);
    expect(await t.db.selectFrom('consents').select('client_id').where('user_id', '=', frank.id).execute()).toEqual([]);

    const grant = await tokensOf(frank);
    expect(grant.statusCode).toBe(400);
    expect(grant.json().error).toBe('invalid_grant');
    const login = await t.app.inject({ method: 'GET', url: '/login' });
    const cookie = [login.headers['set-cookie']].flat()[0]!.split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(login.body)![1]!;
    const page = await t.app.inject({ method: 'POST', url: '/login', ...form({ _csrf: csrf, username: frank.username, password: frank.password }), headers: { ...form({}).headers, cookie } });
    expect(page.statusCode).toBe(401);
    expect(decodeEntities(byId(page.body, 'login-error') ?? '')).toBe('The username or password is incorrect.');

    const event = await lastEvent(t, 'user.disable');
    expect(event).toMatchObject({ actor: 'root-admin', actor_id: admin.id, target_user_id: frank.id, target: 'frank-disable', outcome: 'success' });
    expect(event!.details).toMatchObject({ sessions: 1, consents: 1 });
    expect((await lastEvent(t, 'signin.failure'))!.details).toMatchObject({ reason: 'disabled' });
    expect(byId((await userPage(frank.id)).body, 'user-status')).toBe('disabled');

    expect((await act(frank.id, 'enable')).statusCode).toBe(303);
    expect((await lastEvent(t, 'user.enable'))).toMatchObject({ target_user_id: frank.id, actor: 'root-admin' });
    expect(await introspect(tokens.access_token)).toBe(false);
    expect((await tokensOf(frank)).statusCode).toBe(200);
  });

  it('grant and take admin, never from the last administrator (409)', async () => {
    const gina = await makeUser(t, { username: 'gina-admin' });
    expect((await act(gina.id, 'grant-admin')).statusCode).toBe(303);
    expect((await lastEvent(t, 'user.admin_grant'))).toMatchObject({ target_user_id: gina.id });
    const asGina = await signedInAs(t, gina.id);
    expect((await pageGet(t, asGina, '/admin/users')).statusCode).toBe(200);
    expect((await act(gina.id, 'revoke-admin')).statusCode).toBe(303);
    expect((await lastEvent(t, 'user.admin_revoke'))).toMatchObject({ target_user_id: gina.id });
    expect((await pageGet(t, asGina, '/admin/users')).statusCode).toBe(404);

    // root-admin is now the only administrator: neither taking the right, disabling nor deleting them is allowed.
    const others = await t.db.selectFrom('users').select('username').where('is_admin', '=', true).execute();
    expect(others.map((o) => o.username)).toEqual(['root-admin']);
    for (const [action, values] of [['revoke-admin', {}], ['disable', { confirm: 'yes' }], ['delete', { confirm: 'root-admin' }]] as const) {
      const r = await act(admin.id, action, values);
      expect(r.statusCode, action).toBe(409);
      expect(decodeEntities(r.body)).toContain('is the last administrator');
    }
    const still = await t.db.selectFrom('users').select(['is_admin', 'disabled_at']).where('id', '=', admin.id).executeTakeFirstOrThrow();
    expect(still).toEqual({ is_admin: true, disabled_at: null });
  });

  it('reset second factors removes TOTP and recovery codes', async () => {
    const hal = await makeUser(t, { username: 'hal-mfa' });
    await savePendingTotp(t.db, { userId: hal.id, secretSealed: 'x', now: t.clock.now() });
    await acceptTotpStep(t.db, hal.id, 1, { confirmAt: t.clock.now() });
    await replaceRecoveryCodes(t.db, hal.id, ['a', 'b']);
    expect((await tokensOf(hal)).json().error).toBe('invalid_grant'); // second factor required for the password grant
    expect((await act(hal.id, 'reset-second-factors', { confirm: 'yes' })).statusCode).toBe(303);
    expect(await t.db.selectFrom('user_totp').select('user_id').where('user_id', '=', hal.id).execute()).toEqual([]);
    expect(await t.db.selectFrom('recovery_codes').select('user_id').where('user_id', '=', hal.id).execute()).toEqual([]);
    expect((await lastEvent(t, 'mfa.reset'))).toMatchObject({ target_user_id: hal.id, actor: 'root-admin' });
    expect((await tokensOf(hal)).statusCode).toBe(200);
  });

  it('send a reset link: without e-mail the page shows a one-time link that opens the reset form once', async () => {
    const ivy = await makeUser(t, { username: 'ivy-reset' });
    const r = await act(ivy.id, 'reset-link');
    expect(r.statusCode).toBe(200);
    expect(byId(r.body, 'user-done')).toMatch(/E-mail is off: give them this link yourself/);
    const url = decodeEntities(byId(r.body, 'user-reset-link')!.replace(/<[^>]+>/g, '').trim());
    expect(url).toMatch(/^http:\/\/[^/]+\/reset-password\?token=latch_ln_[\w-]+$/);
    const path = url.replace(/^http:\/\/[^/]+/, '');
    const form = await t.app.inject({ method: 'GET', url: path });
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('id="reset-form"');
    expect(await lastEvent(t, 'password.reset_request')).toMatchObject({ target_user_id: ivy.id, actor: 'root-admin', outcome: 'success' });
  });

  it('delete asks for the username, then removes the user with tokens and consents; the event stays', async () => {
    const ida = await makeUser(t, { username: 'ida-delete' });
    const tokens = (await tokensOf(ida)).json();
    await saveConsent(t.db, ida.id, app.id, 'read', t.clock.now());
    const confirmPage = await pageGet(t, asAdmin, `/admin/users/${ida.id}/delete`);
    expect(confirmPage.statusCode).toBe(200);
    expect(confirmPage.body).toContain('id="user-delete-form"');
    expect((await act(ida.id, 'delete', { confirm: 'someone-else' })).statusCode).toBe(400);
    expect(await introspect(tokens.access_token)).toBe(true);
    const r = await act(ida.id, 'delete', { confirm: 'ida-delete' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/admin/users?deleted=ida-delete');
    expect(await introspect(tokens.access_token)).toBe(false);
    expect(await t.db.selectFrom('users').select('id').where('id', '=', ida.id).execute()).toEqual([]);
    expect(await t.db.selectFrom('consents').select('user_id').where('user_id', '=', ida.id).execute()).toEqual([]);
    expect(await t.db.selectFrom('access_tokens').select('user_id').where('user_id', '=', ida.id).execute()).toEqual([]);
    expect((await lastEvent(t, 'user.delete'))).toMatchObject({ target_user_id: ida.id, target: 'ida-delete' });
    expect((await userPage(ida.id)).statusCode).toBe(404);
  });
});
