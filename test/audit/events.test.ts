import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from '../console/helpers.js';
import { clientVersion, deleteClient } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { findClientByClientId } from '../../src/store/clients.js';
import { captureAuditLog, eventsOf, lastEvent } from './helpers.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { byId, field } from '../helpers/html.js';
import { pkce } from '../helpers/pkce.js';

/** Each event the app records today: the row has the right actor, action, target, outcome and address. */
const t = useTestContext({ LATCH_APP_APPROVAL: 'manual', LATCH_SIGNUP: 'open' });
let admin: Awaited<ReturnType<typeof makeUser>>;
let owner: Awaited<ReturnType<typeof makeUser>>;
let asAdmin: SignedIn;
let asOwner: SignedIn;
let log: ReturnType<typeof captureAuditLog>;
/** Every secret a test saw; none may appear in any row or log line. */
const secrets: string[] = [];
const UA = 'Mozilla/5.0 (audit test) ' + 'x'.repeat(400);

beforeAll(async () => {
  log = captureAuditLog();
  admin = await makeUser(t, { username: 'audit-admin', isAdmin: true });
  owner = await makeUser(t, { username: 'audit-owner' });
  secrets.push(admin.password, owner.password);
  asAdmin = await signedInAs(t, admin.id);
  asOwner = await signedInAs(t, owner.id);
});

const run = (argv: string[]) => cli(argv, { clock: t.clock, env: { LOG_LEVEL: 'silent', LATCH_APP_APPROVAL: 'manual' }, openDb: async () => ({ ...t.handle, close: async () => {} }) });

/** Like pagePost (helpers/forms.ts), from a given address and user agent; `values` may be a raw encoded body. */
function postFrom(who: SignedIn, url: string, values: Record<string, string> | string = {}, ip = '198.51.100.7') {
  const csrf = new URLSearchParams({ _csrf: who.csrf(url) }).toString();
  const body = typeof values === 'string' ? `${csrf}&${values}` : new URLSearchParams({ _csrf: who.csrf(url), ...values }).toString();
  return t.app.inject({ method: 'POST', url, payload: body, remoteAddress: ip, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: who.cookie, 'user-agent': UA } });
}

async function loginAttempt(username: string, password: string, ip: string) {
  const page = await t.app.inject({ method: 'GET', url: '/login' });
  const cookie = cookiesFrom(page.headers['set-cookie']);
  const body = { _csrf: field(page.body, '_csrf')!, return_to: '/', username, password };
  return t.app.inject({ method: 'POST', url: '/login', remoteAddress: ip, ...form(body), headers: { ...form(body).headers, cookie, 'user-agent': UA } });
}

describe('sign-in and sign-out', () => {
  it('a successful sign-in records signin.success by the user, about the user, from their address', async () => {
    const user = await makeUser(t);
    const r = await loginAttempt(user.username, user.password, '203.0.113.5');
    expect(r.statusCode).toBe(303);
    const e = (await lastEvent(t, 'signin.success'))!;
    expect(e).toMatchObject({ actor_kind: 'user', actor_id: user.id, actor: user.username, target: user.username, target_user_id: user.id, address: '203.0.113.5', outcome: 'success' });
    expect(e.user_agent).toBe(UA.slice(0, 200));
  });

  it('a wrong password records signin.failure by anonymous, naming the username tried, without the password', async () => {
    const user = await makeUser(t);
    const r = await loginAttempt(user.username, 'wrong-password-123', '203.0.113.6');
    expect(r.statusCode).toBe(401);
    const e = (await lastEvent(t, 'signin.failure'))!;
    expect(e).toMatchObject({ actor_kind: 'anonymous', actor: 'anonymous', target: user.username, target_user_id: null, address: '203.0.113.6', outcome: 'failure' });
    secrets.push('wrong-password-123');
  });

  it('signing out records signout for the session\'s user', async () => {
    const user = await makeUser(t);
    const who = await signedInAs(t, user.id);
    const r = await postFrom(who, '/logout', {}, '203.0.113.7');
    expect(r.statusCode).toBe(303);
    expect(await lastEvent(t, 'signout')).toMatchObject({ actor_id: user.id, target_user_id: user.id, address: '203.0.113.7', outcome: 'success' });
  });
});

describe('apps from the console and the approval page', () => {
  let clientId: string;

  /** The version an administrator's decision form carries: the app as the page showed it. */
  const versionOf = async (id: string) => clientVersion((await findClientByClientId(t.db, id))!);

  it('registering records client.create by the owner', async () => {
    const r = await postFrom(asOwner, '/apps', encodeApp());
    expect(r.statusCode).toBe(201);
    clientId = byId(r.body, 'client-id')!;
    secrets.push(byId(r.body, 'client-secret')!);
    expect(await lastEvent(t, 'client.create')).toMatchObject({ actor_id: owner.id, target: clientId, target_client_id: clientId, address: '198.51.100.7', outcome: 'success' });
  });

  it('approve, suspend, reinstate record client.<decision> by the administrator, with the reason', async () => {
    for (const [decision, reason] of [['approve', ''], ['suspend', 'abuse report'], ['reinstate', '']] as const) {
      const version = await versionOf(clientId);
      const r = await postFrom(asAdmin, `/admin/apps/${clientId}/${decision}`, reason ? { reason, version } : { version });
      expect(r.statusCode).toBe(303);
      const e = (await lastEvent(t, `client.${decision}`))!;
      expect(e).toMatchObject({ actor_id: admin.id, actor: 'audit-admin', target_client_id: clientId, outcome: 'success' });
      if (reason) expect(e.details).toMatchObject({ reason });
    }
  });

  it('deny records client.deny', async () => {
    const r = await postFrom(asOwner, '/apps', encodeApp({ name: 'Denied app' }));
    const denied = byId(r.body, 'client-id')!;
    secrets.push(byId(r.body, 'client-secret')!);
    expect((await postFrom(asAdmin, `/admin/apps/${denied}/deny`, { reason: 'incomplete', version: await versionOf(denied) })).statusCode).toBe(303);
    expect(await lastEvent(t, 'client.deny')).toMatchObject({ actor_id: admin.id, target_client_id: denied, details: expect.objectContaining({ reason: 'incomplete', from: 'pending', to: 'denied' }) });
  });

  it('editing records client.update naming the changed settings', async () => {
    const r = await postFrom(asOwner, `/apps/${clientId}/edit`, encodeApp({ name: 'Renamed app' }));
    expect(r.statusCode).toBe(303);
    const e = (await lastEvent(t, 'client.update'))!;
    expect(e).toMatchObject({ actor_id: owner.id, target_client_id: clientId });
    expect((e.details as { changed: string[] }).changed).toContain('name');
  });

  it('rotating the secret records client.rotate_secret and never the secret', async () => {
    const r = await postFrom(asOwner, `/apps/${clientId}/secret`);
    expect(r.statusCode).toBe(200);
    secrets.push(byId(r.body, 'client-secret')!);
    expect(await lastEvent(t, 'client.rotate_secret')).toMatchObject({ actor_id: owner.id, target_client_id: clientId });
  });

  it('revoking a test token records token.revoke', async () => {
    // The rename above sent the app back for review; test tokens need it active.
    expect((await postFrom(asAdmin, `/admin/apps/${clientId}/approve`, { version: await versionOf(clientId) })).statusCode).toBe(303);
    const made = await postFrom(asOwner, `/apps/${clientId}/tokens`, { scopes: 'read', label: 'ci' });
    expect(made.statusCode).toBe(201);
    secrets.push(byId(made.body, 'personal-token')!);
    const row = await t.db.selectFrom('access_tokens').select('id').where('kind', '=', 'personal').orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    const r = await postFrom(asOwner, `/apps/${clientId}/tokens/${row.id}/revoke`);
    expect(r.statusCode).toBe(303);
    expect(await lastEvent(t, 'token.revoke')).toMatchObject({ actor_id: owner.id, target_client_id: clientId, details: { kind: 'personal', id: row.id } });
  });

  it('deleting records client.delete; the event outlives the app', async () => {
    const r = await postFrom(asOwner, `/apps/${clientId}/delete`);
    expect(r.statusCode).toBe(303);
    expect(await t.db.selectFrom('clients').select('id').where('client_id', '=', clientId).executeTakeFirst()).toBeUndefined();
    expect(await lastEvent(t, 'client.delete')).toMatchObject({ actor_id: owner.id, target: clientId, target_client_id: clientId });
    expect((await eventsOf(t, 'client.create')).some((e) => e.target_client_id === clientId)).toBe(true);
  });
});

describe('consents', () => {
  it('allowing on the consent page records consent.grant; revoking at /account/apps records consent.revoke', async () => {
    const user = await makeUser(t);
    const who = await signedInAs(t, user.id);
    const app = await makeClient(t, { redirectUris: ['https://consent.example/cb'] });
    await sql`update clients set status = 'active' where id = ${app.id}`.execute(t.db);
    const { challenge } = pkce();
    const params = { response_type: 'code', client_id: app.client_id, redirect_uri: 'https://consent.example/cb', scope: 'read', state: 's', code_challenge: challenge, code_challenge_method: 'S256' };
    const allow = await postFrom(who, '/oauth/authorize', { ...params, _csrf: who.csrf('/oauth/authorize'), decision: 'allow' }, '203.0.113.9');
    expect(allow.statusCode).toBe(303);
    const code = new URL(allow.headers.location as string).searchParams.get('code')!;
    secrets.push(code);
    expect(await lastEvent(t, 'consent.grant')).toMatchObject({ actor_id: user.id, target_user_id: user.id, target_client_id: app.client_id, address: '203.0.113.9', details: { scope: 'read' } });

    const revoke = await postFrom(who, '/account/apps/revoke', { _csrf: who.csrf('/account/apps/revoke'), client_id: app.client_id });
    expect(revoke.statusCode).toBe(303);
    expect(await lastEvent(t, 'consent.revoke')).toMatchObject({ actor_id: user.id, target_user_id: user.id, target_client_id: app.client_id });
  });
});

describe('token revocation by an app (RFC 7009)', () => {
  it('records token.revoke by the app, from its address; an unknown token records nothing', async () => {
    const app = await makeClient(t, { grantTypes: ['client_credentials'], redirectUris: [] });
    await sql`update clients set status = 'active' where id = ${app.id}`.execute(t.db);
    secrets.push(app.secret);
    const auth = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(app.client_id, app.secret) };
    const issued = await t.app.inject({ method: 'POST', url: '/oauth/token', payload: 'grant_type=client_credentials', headers: auth });
    expect(issued.statusCode).toBe(200);
    const token = issued.json().access_token as string;
    secrets.push(token);
    const before = (await eventsOf(t, 'token.revoke')).length;
    const unknown = await t.app.inject({ method: 'POST', url: '/oauth/revoke', payload: 'token=latch_at_unknown', headers: auth });
    expect(unknown.statusCode).toBe(200);
    expect((await eventsOf(t, 'token.revoke')).length).toBe(before);
    const r = await t.app.inject({ method: 'POST', url: '/oauth/revoke', remoteAddress: '203.0.113.11', payload: `token=${token}`, headers: auth });
    expect(r.statusCode).toBe(200);
    expect(await lastEvent(t, 'token.revoke')).toMatchObject({ actor_kind: 'client', actor: app.client_id, actor_id: app.client_id, target_client_id: app.client_id, address: '203.0.113.11', details: { kind: 'access_token' } });
  });
});

describe('users', () => {
  it('sign-up records user.create about the new user', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/signup' });
    const cookie = cookiesFrom(page.headers['set-cookie']);
    const body = { _csrf: field(page.body, '_csrf')!, username: 'newcomer', email: '', password: 'a long enough passphrase' };
    const r = await t.app.inject({ method: 'POST', url: '/signup', remoteAddress: '203.0.113.10', ...form(body), headers: { ...form(body).headers, cookie } });
    expect(r.statusCode).toBe(303);
    secrets.push('a long enough passphrase');
    expect(await lastEvent(t, 'user.create')).toMatchObject({ actor_kind: 'anonymous', target: 'newcomer', address: '203.0.113.10', details: { admin: false } });
  });

  it('bin/latch user create records user.create by the operator', async () => {
    const r = await run(['user', 'create', '--username', 'cli-made', '--password', 'cli-password-1', '--admin']);
    expect(r.code).toBe(0);
    secrets.push('cli-password-1');
    expect(await lastEvent(t, 'user.create')).toMatchObject({ actor_kind: 'operator', actor: 'operator', actor_id: null, target: 'cli-made', address: null, details: { admin: true } });
  });
});

describe('the command line', () => {
  it('client create, update, approve, suspend, reinstate, rotate-secret, delete each record their event by the operator', async () => {
    const created = await run(['client', 'create', '--name', 'CLI app', '--redirect-uri', 'https://cli.example/cb', '--json']);
    expect(created.code).toBe(0);
    const id = created.json.client_id as string;
    secrets.push(created.json.client_secret);
    const steps: Array<[string[], string]> = [
      [['client', 'update', id, '--name', 'CLI app 2'], 'client.update'],
      [['client', 'approve', id], 'client.approve'],
      [['client', 'suspend', id, '--reason', 'testing'], 'client.suspend'],
      [['client', 'reinstate', id], 'client.reinstate'],
      [['client', 'rotate-secret', id, '--json'], 'client.rotate_secret'],
      [['client', 'delete', id], 'client.delete'],
    ];
    expect(await lastEvent(t, 'client.create')).toMatchObject({ actor_kind: 'operator', target_client_id: id });
    for (const [argv, action] of steps) {
      const r = await run(argv);
      expect(r.code, r.stderr).toBe(0);
      if (r.json?.client_secret) secrets.push(r.json.client_secret);
      expect(await lastEvent(t, action)).toMatchObject({ actor_kind: 'operator', target_client_id: id, outcome: 'success' });
    }
  });

  it('a refused decision records nothing', async () => {
    const before = (await eventsOf(t, 'client.reinstate')).length;
    const app = await makeClient(t);
    const r = await run(['client', 'reinstate', app.client_id]);
    expect(r.code).toBe(1);
    expect((await eventsOf(t, 'client.reinstate')).length).toBe(before);
  });
});

describe('one transaction', () => {
  it('a client delete that fails at commit leaves neither the deletion, nor an event, nor a log line', async () => {
    const app = await makeClient(t, { name: 'Undeletable' });
    // A deferred trigger fails the transaction at COMMIT: after recordAudit's INSERT ran in it.
    await sql`create function refuse_delete() returns trigger language plpgsql as $$ begin raise exception 'refused for the test'; end $$`.execute(t.db);
    await sql`create constraint trigger refuse_client_delete after delete on clients deferrable initially deferred for each row execute function refuse_delete()`.execute(t.db);
    const linesBefore = log.raw.length;
    try {
      await expect(deleteClient(t, OPERATOR, app.client_id)).rejects.toThrow(/refused for the test/);
    } finally {
      await sql`drop trigger refuse_client_delete on clients`.execute(t.db);
    }
    expect(await t.db.selectFrom('clients').select('id').where('id', '=', app.id).executeTakeFirst()).toBeDefined();
    expect((await eventsOf(t, 'client.delete')).some((e) => e.target_client_id === app.client_id)).toBe(false);
    expect(log.raw.slice(linesBefore).join('\n')).not.toContain(app.client_id);
    // And once it can commit, both appear.
    await deleteClient(t, OPERATOR, app.client_id);
    expect((await eventsOf(t, 'client.delete')).some((e) => e.target_client_id === app.client_id)).toBe(true);
    expect(log.lines.some((l) => l.action === 'client.delete' && l.target_client_id === app.client_id)).toBe(true);
  });
});

describe('no secret anywhere', () => {
  it('no row and no log line of this file contains a password, secret, token or code a test used', async () => {
    const rows = await t.db.selectFrom('audit_events').selectAll().execute();
    expect(rows.length).toBeGreaterThan(20);
    const everything = JSON.stringify(rows) + '\n' + log.raw.join('\n');
    expect(secrets.length).toBeGreaterThan(8);
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      expect(everything).not.toContain(s);
    }
    expect(everything).not.toMatch(/latch_(cs|at|rt|pat|ac|ss)_/);
    expect(log.lines.every((l) => l.audit === true)).toBe(true);
    expect(log.lines.length).toBe(rows.length);
  });
});

function encodeApp(overrides: Record<string, string> = {}): string {
  const values = validApp(overrides);
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) for (const item of [v ?? []].flat()) p.append(k, item);
  return p.toString();
}
