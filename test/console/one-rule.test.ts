import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientStatus } from '../../src/db/schema.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { APP_DECISIONS, decideClient, decisionsFrom, TRANSITIONS, type AppDecision } from '../../src/manage/clients/index.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { pageGet as get, pagePost as post } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

/** The transition table, and the rules the command line and the pages share through src/manage/. */
let t: TestContext;
let owner: Awaited<ReturnType<typeof makeUser>>;
let asOwner: SignedIn;
let asAdmin: SignedIn;
const MANUAL = { LOG_LEVEL: 'silent', LATCH_APP_APPROVAL: 'manual' };
const run = (argv: string[]) => cli(argv, { clock: t.clock, env: MANUAL, openDb: async () => ({ ...t.handle, close: async () => {} }) });

beforeAll(async () => {
  t = await createTestContext({ LATCH_APP_APPROVAL: 'manual' });
  owner = await makeUser(t, { username: 'rule-owner' });
  const admin = await makeUser(t, { username: 'rule-admin', isAdmin: true });
  asOwner = await signedInAs(t, owner.id);
  asAdmin = await signedInAs(t, admin.id);
});
afterAll(() => t.close());

const STATUSES: ClientStatus[] = ['pending', 'active', 'suspended', 'denied'];

/** How to bring a new (pending, under manual approval) app to each status. */
const PATH_TO: Record<ClientStatus, [AppDecision, string?][]> = {
  pending: [],
  active: [['approve']],
  suspended: [['approve'], ['suspend', 'abuse']],
  denied: [['deny', 'no privacy policy']],
};

async function appIn(status: ClientStatus): Promise<string> {
  const { client_id } = await makeClient(t, { ownerId: owner.id, name: `App ${status}` });
  for (const [d, reason] of PATH_TO[status]) await decideClient(t, OPERATOR, client_id, d, { reason });
  return client_id;
}

const statusOf = async (clientId: string) =>
  (await t.db.selectFrom('clients').select('status').where('client_id', '=', clientId).executeTakeFirstOrThrow()).status;

/** The decisions the administrators' page offers for one app: its forms' actions. */
async function offered(clientId: string): Promise<{ decisions: string[]; version: string }> {
  const page = (await get(t, asAdmin, '/admin/apps')).body;
  const start = page.indexOf(`id="app-${clientId}"`);
  const item = page.slice(start, page.indexOf('</li>', start));
  const decisions = [...item.matchAll(new RegExp(`action="/admin/apps/${clientId}/(\\w+)"`, 'g'))].map((m) => m[1]!);
  return { decisions, version: /name="version" value="(\d+)"/.exec(item)?.[1] ?? '0' };
}

describe('the transition table', () => {
  it('says which decision leads from which status where', () => {
    expect(Object.fromEntries(STATUSES.map((s) => [s, decisionsFrom(s)]))).toEqual({
      pending: ['approve', 'deny', 'suspend'],
      active: ['suspend'],
      suspended: ['reinstate'],
      // A denied app is approved once its owner fixed it; reinstating undoes a suspension only.
      denied: ['approve'],
    });
  });

  for (const status of STATUSES) {
    it(`an app that is ${status}: the page offers exactly what the table allows, and each offered decision succeeds`, async () => {
      const shown = await offered(await appIn(status));
      expect(shown.decisions).toEqual(decisionsFrom(status));
      for (const d of shown.decisions) {
        const clientId = await appIn(status);
        const r = await post(t, asAdmin, `/admin/apps/${clientId}/${d}`, { version: (await offered(clientId)).version, reason: 'looked at it' });
        expect(r.statusCode).toBe(303);
        expect(await statusOf(clientId)).toBe(TRANSITIONS[d as AppDecision].to);
      }
    });

    it(`an app that is ${status}: a decision the table refuses is refused by the page and by bin/latch with the same message`, async () => {
      const refused = APP_DECISIONS.filter((d) => !decisionsFrom(status).includes(d));
      for (const d of refused) {
        const clientId = await appIn(status);
        const message = `cannot ${d} a client that is ${status}`;
        const page = await post(t, asAdmin, `/admin/apps/${clientId}/${d}`, { version: (await offered(clientId)).version, reason: 'looked at it' });
        expect(page.statusCode).toBe(400);
        expect(byId(page.body, 'decision-error')).toBe(message);
        const line = await run(['client', d, clientId, '--reason', 'looked at it']);
        expect(line.code).toBe(1);
        expect(line.stderr).toContain(`latch client ${d}: status: ${message}\n`);
        expect(await statusOf(clientId)).toBe(status);
      }
    });
  }

  it("bin/latch's help for each decision says what the table says", async () => {
    for (const d of APP_DECISIONS) {
      const help = await run(['client', d, '--help']);
      const { from, to } = TRANSITIONS[d];
      expect(help.stdout).toContain(`Makes a ${from.join(' or ')} client ${to}.`);
    }
  });
});

describe('one rule for the command line and the console (LATCH_APP_APPROVAL=manual)', () => {
  const WIDER = 'https://photosync.example/callback\nhttps://elsewhere.example/cb';

  /** Widens an active app's redirect URIs in the console as `who`; returns the status it is left in. */
  async function widenInConsole(who: SignedIn): Promise<string> {
    const clientId = await appIn('active');
    const r = await post(t, who, `/apps/${clientId}/edit`, validApp({ name: 'App active', redirect_uris: WIDER }));
    expect(r.statusCode).toBe(303);
    return statusOf(clientId);
  }

  it("an owner's widening edit in the console sends an approved app back to pending", async () => {
    expect(await widenInConsole(asOwner)).toBe('pending');
  });

  it("the operator's same widening edit with client update keeps the app active: administrators' edits need no approval", async () => {
    const clientId = await appIn('active');
    const r = await run(['client', 'update', clientId, '--redirect-uri', 'https://photosync.example/callback', '--redirect-uri', 'https://elsewhere.example/cb', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ status: 'active', redirect_uris: ['https://photosync.example/callback', 'https://elsewhere.example/cb'] });
    expect(await statusOf(clientId)).toBe('active');
  });

  it("an administrator's widening edit in the console keeps it active too", async () => {
    expect(await widenInConsole(asAdmin)).toBe('active');
  });

  it('a test token needs an active app, in the console and on the command line alike', async () => {
    const clientId = await appIn('pending');
    const page = await post(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read' });
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('the app is pending; test tokens need an active app');
    const line = await run(['token', 'create', '--client', clientId]);
    expect(line.code).toBe(1);
    expect(line.stderr).toContain('token: the app is pending; test tokens need an active app');
  });

  it('rotating a public app\'s secret is refused with one sentence in both', async () => {
    const r = await post(t, asOwner, '/apps', validApp({ name: 'Public one', client_type: 'public' }));
    const clientId = byId(r.body, 'client-id')!;
    const page = await post(t, asOwner, `/apps/${clientId}/secret`);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('This app is public: it has no secret to rotate');
    const line = await run(['client', 'rotate-secret', clientId]);
    expect(line.code).toBe(1);
    expect(line.stderr).toContain('latch client rotate-secret: This app is public: it has no secret to rotate\n');
  });

  it('the audit log names who acted: the operator at the command line, the user on the pages', async () => {
    const clientId = await appIn('pending');
    await post(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Renamed by owner' }));
    expect((await run(['client', 'update', clientId, '--name', 'Renamed by operator'])).code).toBe(0);
    const events = await t.db
      .selectFrom('audit_events')
      .select(['actor_kind', 'actor'])
      .where('action', '=', 'client.update')
      .where('target_client_id', '=', clientId)
      .orderBy('id')
      .execute();
    expect(events).toEqual([
      { actor_kind: 'user', actor: 'rule-owner' },
      { actor_kind: 'operator', actor: 'operator' },
    ]);
  });
});
