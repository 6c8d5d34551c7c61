import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestContext } from '../helpers/app.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { pageGet } from '../helpers/forms.js';
import { byId, decodeEntities } from '../helpers/html.js';

const t = useTestContext();
let asAdmin: SignedIn;
const BULK = 5000;

beforeAll(async () => {
  const admin = await makeUser(t, { username: 'aaa-admin', isAdmin: true });
  asAdmin = await signedInAs(t, admin.id);
  // 5,000 users and 5,000 active apps, one statement each.
  await sql`
    insert into users (id, username, email, password_hash, created_at)
    select gen_random_uuid(), 'bulk' || lpad(g::text, 5, '0'), 'bulk' || g || '@example.org', 'x', ${t.clock.now()}
    from generate_series(1, ${BULK}) as g`.execute(t.db);
  await sql`
    insert into clients (id, client_id, name, status, redirect_uris, scopes, grant_types, is_confidential, created_at, updated_at)
    select gen_random_uuid(), 'bulk-app-' || g, 'Bulk app ' || g, 'active', array['https://app.example/cb'], array['read'], array['authorization_code'], false,
           ${t.clock.now()}::timestamptz - (${BULK} - g) * interval '1 second', ${t.clock.now()}
    from generate_series(1, ${BULK}) as g`.execute(t.db);
});

/** Zero-padded, so each new user sorts after the ones added before it. */
const pad = (n: number) => String(n).padStart(4, '0');

const nextOf = (html: string, id: string) => {
  const m = new RegExp(`<a href="([^"]*)"[^>]*id="${id}"`).exec(html);
  return m ? decodeEntities(m[1]!) : null;
};

/** Follows the next links from `start`, calling `between` before each next page; every row id seen, in order. */
async function pageThrough(start: string, rowPattern: RegExp, nextId: string, between: (n: number) => Promise<void> = async () => {}) {
  const seen: string[] = [];
  let url: string | null = start;
  let pages = 0;
  while (url) {
    const r = await pageGet(t, asAdmin, url);
    expect(r.statusCode, url).toBe(200);
    seen.push(...[...r.body.matchAll(rowPattern)].map((m) => m[1]!));
    pages++;
    url = nextOf(r.body, nextId);
    if (url) await between(pages);
  }
  return { seen, pages };
}

describe('/admin/users with 5,000 users', () => {
  it('pages through everyone exactly once, in username order, while users are added meanwhile', async () => {
    let added = 0;
    const { seen, pages } = await pageThrough('/admin/users?q=bulk', /class="user" data-id="([^"]+)"/g, 'users-next', async (n) => {
      // Users added before the cursor and after it: neither repeats nor skips one already due.
      await sql`insert into users (id, username, password_hash, created_at) values (gen_random_uuid(), ${`bulk00000-new${pad(n)}`}, 'x', ${t.clock.now()}), (gen_random_uuid(), ${`bulkzzz-new${pad(n)}`}, 'x', ${t.clock.now()})`.execute(t.db);
      added++;
    });
    expect(pages).toBe(Math.ceil((BULK + added) / 50));
    expect(new Set(seen).size).toBe(seen.length);
    const bulkIds = await t.db.selectFrom('users').select('id').where('username', 'like', 'bulk0%').where('username', 'not like', '%-new%').execute();
    expect(bulkIds).toHaveLength(BULK);
    for (const { id } of bulkIds) expect(seen).toContain(id);
    // Every user added after the cursor passed is there too.
    expect(seen.length).toBe(BULK + added);
  }, 120_000);

  it('answers a page quickly and the first page links back', async () => {
    const first = await pageGet(t, asAdmin, '/admin/users');
    const next = nextOf(first.body, 'users-next')!;
    const second = await pageGet(t, asAdmin, next);
    expect(byId(second.body, 'users-first')).toBe('First page');
    expect(second.body.match(/class="user"/g)).toHaveLength(50);
  });
});

describe('/admin/apps with 5,000 apps', () => {
  it('shows each status 50 at a time with its count, and pages through every active app exactly once', async () => {
    const r = await pageGet(t, asAdmin, '/admin/apps');
    expect(r.statusCode).toBe(200);
    expect(r.body.match(/class="app" id=/g)).toHaveLength(50);
    expect(r.body).toContain(`Active <span class="count">(${BULK})</span>`);
    let registered = 0;
    const { seen, pages } = await pageThrough(nextOf(r.body, 'apps-next-active')!, /class="app" id="app-([^"]+)"/g, 'apps-next-active', async () => {
      // Each registered later than every app before it, so each lands after the cursor.
      registered++;
      await sql`insert into clients (id, client_id, name, status, redirect_uris, scopes, grant_types, is_confidential, created_at, updated_at)
        values (gen_random_uuid(), ${`late-app-${registered}`}, 'Late', 'active', array['https://app.example/cb'], array['read'], array['authorization_code'], false, ${new Date(t.clock.now().getTime() + registered * 1000)}, ${t.clock.now()})`.execute(t.db);
    });
    const all = [...[...r.body.matchAll(/class="app" id="app-([^"]+)"/g)].map((m) => m[1]!), ...seen];
    expect(new Set(all).size).toBe(all.length);
    // Oldest first: the late ones come at the end, none of the bulk is missed.
    expect(all.filter((id) => id.startsWith('bulk-app-'))).toEqual(Array.from({ length: BULK }, (_, i) => `bulk-app-${i + 1}`));
    expect(all.filter((id) => id.startsWith('late-app-')).length).toBe(registered);
    expect(pages).toBeGreaterThanOrEqual(BULK / 50 - 1);
  }, 120_000);

  it('answers bad parameters with 400 and a message', async () => {
    for (const [query, message] of [
      ['status=nope', 'status: expected pending, active, suspended, denied'],
      ['status=active&after=garbage', 'after: is not a page cursor'],
      ['after=1_00000000-0000-4000-8000-000000000000', 'after: needs a status'],
      ['status=active&status=pending', 'status: give it once'],
    ] as const) {
      const r = await pageGet(t, asAdmin, `/admin/apps?${query}`);
      expect(r.statusCode, query).toBe(400);
      expect(decodeEntities(byId(r.body, 'apps-error') ?? ''), query).toContain(message);
    }
  });
});
