import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestContext } from '../helpers/app.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { insertMany } from './helpers.js';
import { pageGet } from '../helpers/forms.js';
import { byId, decodeEntities } from '../helpers/html.js';

const t = useTestContext();
let asAdmin: SignedIn;
let asUser: SignedIn;
let alice: Awaited<ReturnType<typeof makeUser>>;
let bob: Awaited<ReturnType<typeof makeUser>>;
const BULK = 5000;

beforeAll(async () => {
  const admin = await makeUser(t, { username: 'page-admin', isAdmin: true });
  alice = await makeUser(t, { username: 'alice' });
  bob = await makeUser(t, { username: 'bob' });
  asAdmin = await signedInAs(t, admin.id);
  asUser = await signedInAs(t, alice.id);
  // The bulk ends a day before the fixtures' events (at the clock's now), all one statement.
  await insertMany(t, BULK, new Date(t.clock.now().getTime() - 86400_000), [alice.id, bob.id]);
});

const idsOf = (html: string) => [...html.matchAll(/class="audit-event" data-id="(\d+)"/g)].map((m) => m[1]!);
const nextOf = (html: string) => {
  const m = /<a href="([^"]*)" id="audit-next"/.exec(html);
  return m ? decodeEntities(m[1]!) : null;
};
const audit = (query: string, who: SignedIn | null = asAdmin) => pageGet(t, who, `/admin/audit${query}`);

/** Follows the next links from `start`, calling `between` before each next page; every id seen, in order. */
async function pageThrough(start: string, between: (next: string, shown: string[]) => Promise<void>) {
  const seen: string[] = [];
  let url: string | null = start;
  let pages = 0;
  while (url) {
    const r = await pageGet(t, asAdmin, url);
    expect(r.statusCode).toBe(200);
    seen.push(...idsOf(r.body));
    pages++;
    url = nextOf(r.body);
    if (url) await between(url, seen);
  }
  return { seen, pages };
}

describe('who may see it', () => {
  it('is for administrators: others get the same 404 as /admin/apps, the signed-out the login page', async () => {
    expect((await audit('', asUser)).statusCode).toBe(404);
    const out = await audit('', null);
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login?return_to=%2Fadmin%2Faudit');
    const ok = await audit('');
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('<form method="get" action="/admin/audit" id="audit-filter"');
    expect(ok.headers['cache-control']).toBe('no-store');
  });

  it('the app approval page links to it', async () => {
    const r = await pageGet(t, asAdmin, '/admin/apps');
    expect(r.body).toContain('<a href="/admin/audit" id="audit-link">');
  });
});

describe('filters', () => {
  it('by user (name or id), app, action (exact or group) and time range', async () => {
    const first = await audit('?user=alice');
    expect(first.statusCode).toBe(200);
    const rows = await t.db.selectFrom('audit_events').select(['id', 'target_user_id', 'actor_id', 'action', 'at']).execute();
    const aliceIds = rows.filter((r) => r.target_user_id === alice.id || r.actor_id === alice.id).map((r) => String(r.id));
    expect(aliceIds.length).toBeGreaterThan(2500);
    expect(idsOf(first.body)).toHaveLength(50);
    for (const id of idsOf(first.body)) expect(aliceIds).toContain(id);
    expect(idsOf((await audit(`?user=${alice.id}`)).body)).toEqual(idsOf(first.body));

    const failures = idsOf((await audit('?action=signin.failure')).body);
    const failureIds = rows.filter((r) => r.action === 'signin.failure').map((r) => String(r.id));
    expect(failures).toHaveLength(50);
    for (const id of failures) expect(failureIds).toContain(id);
    const group = idsOf((await audit('?action=signin.')).body);
    expect(group).toHaveLength(50);

    // The fixtures' user.create events are at the clock's now; the bulk ends a day earlier.
    const today = t.clock.now().toISOString().slice(0, 10);
    const recent = await audit(`?from=${today}&to=${today}`);
    expect(idsOf(recent.body).sort()).toEqual(rows.filter((r) => r.at.toISOString().startsWith(today)).map((r) => String(r.id)).sort());
    expect(idsOf((await audit('?from=12h')).body)).toHaveLength(3);
  });

  it('by app, with the event kept after the app is gone', async () => {
    await sql`insert into audit_events (at, actor_kind, actor, action, target, target_client_id, outcome)
              values (${t.clock.now()}, 'operator', 'operator', 'client.delete', 'gone-app', 'gone-app', 'success')`.execute(t.db);
    const r = await audit('?app=gone-app');
    expect(idsOf(r.body)).toHaveLength(1);
    expect(r.body).toContain('client.delete');
    expect((await audit('?app=other-app')).body).toContain('id="audit-empty"');
  });

  it.each([
    ['?action=bogus', /action: expected an action such as signin.failure/],
    ['?action=signin%27%20or%201%3D1--', /action: expected/],
    ['?user=%3Cscript%3E', /user: expected a username or a user id/],
    ['?user=nobody-here', /user: no user named &quot;nobody-here&quot;/],
    ['?user=a&user=b', /user: give it once/],
    ['?from=yesterday', /from: expected epoch seconds/],
    ['?to=2030-13-45', /to: expected epoch seconds/],
    ['?from=2030-01-02&to=2030-01-01T00:00', /to: must be after the start of the range/],
    ['?after=1%3Bdrop', /after: is not a page cursor/],
    ['?app=' + 'x'.repeat(301), /app: give it once, at most 300 characters/],
  ])('%s is a 400 page with a message, not an error', async (query, message) => {
    const r = await audit(query);
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toContain('text/html');
    expect(byId(r.body, 'audit-error')).toBeDefined();
    expect(r.body).toMatch(message);
    expect(r.body).not.toContain('<script>');
  });
});

describe('pagination', () => {
  it(`pages through ${BULK} events by next links, newest first, each once`, async () => {
    const total = Number((await sql<{ n: number }>`select count(*)::int as n from audit_events`.execute(t.db)).rows[0]!.n);
    const { seen, pages } = await pageThrough('/admin/audit', async (next) => {
      expect(next).toMatch(/^\/admin\/audit\?after=\d+_\d+$/);
    });
    expect(pages).toBe(Math.ceil(total / 50));
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    const ordered = await t.db.selectFrom('audit_events').select('id').orderBy('at', 'desc').orderBy('id', 'desc').execute();
    expect(seen).toEqual(ordered.map((r) => String(r.id)));
  });

  it('keeps filters in the next link and stays stable when events are written between pages', async () => {
    const original = (await t.db.selectFrom('audit_events').select('id')
      .where('target_user_id', '=', bob.id).where('action', 'in', ['signin.success', 'signin.failure']).execute()).map((r) => String(r.id));
    let round = 0;
    const { seen } = await pageThrough('/admin/audit?user=bob&action=signin.', async (next, shown) => {
      expect(next).toContain('user=bob');
      // Between pages: newer events for bob, and one at exactly the time of the last row shown.
      if (round++ >= 5) return;
      await insertMany(t, 20, t.clock.now(), [bob.id, bob.id]);
      await sql`insert into audit_events (at, actor_kind, actor, action, target_user_id, outcome)
                select at, 'user', 'bob', 'signin.success', target_user_id, 'success' from audit_events where id = ${shown[shown.length - 1]!}::bigint`.execute(t.db);
    });
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of original) expect(seen).toContain(id);
  });
});
