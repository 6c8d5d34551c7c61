import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext, type TestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { digest } from '../../src/crypto/secrets.js';

type User = Awaited<ReturnType<typeof makeUser>>;
type Client = Awaited<ReturnType<typeof makeClient>>;

/** A context with a user and a password client whose refresh tokens live an hour. */
function useRefreshContext(env: Record<string, string> = {}) {
  const ctx = useTestContext(env);
  const g = { ctx, u: undefined as unknown as User, c: undefined as unknown as Client };
  beforeAll(async () => {
    g.u = await makeUser(ctx);
    g.c = await makeClient(ctx, { grantTypes: ['password', 'refresh_token'], refreshTokenTtl: 3600 });
  });
  return g;
}

const main = useRefreshContext();
const t: TestContext = main.ctx;
const clock = withClock(t);
let user: User;
let app: Client;
beforeAll(() => {
  ({ u: user, c: app } = main);
});

async function login(ctx = t, u = user, c = app, scope = 'read write') {
  const r = await clientPost(ctx.app, '/oauth/token', { grant_type: 'password', username: u.username, password: u.password, scope }, asAuth(c));
  expect(r.statusCode).toBe(200);
  return r.json() as { access_token: string; refresh_token: string; scope: string };
}
const refresh = (token: string, extra: Record<string, string> = {}, ctx = t, c = app) =>
  clientPost(ctx.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: token, ...extra }, asAuth(c));
const me = (token: string, ctx = t) => ctx.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${token}` } });

describe('refresh_token grant', () => {
  it('rotates: a new pair, and the old pair stops working at once', async () => {
    const first = await login();
    const r = await refresh(first.refresh_token);
    expect(r.statusCode).toBe(200);
    const second = r.json();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.scope).toBe('read write');
    expect((await me(first.access_token)).statusCode).toBe(401);
    expect((await me(second.access_token)).statusCode).toBe(200);
  });

  it('revokes the whole family when a retired refresh token is presented again', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).json();
    const third = (await refresh(second.refresh_token)).json();
    const replay = await refresh(first.refresh_token);
    expect(replay.statusCode).toBe(400);
    expect(replay.json().error).toBe('invalid_grant');
    expect((await me(third.access_token)).statusCode).toBe(401);
    expect((await refresh(third.refresh_token)).json().error).toBe('invalid_grant');
  });

  it('may narrow the scope, never widen it', async () => {
    const first = await login(t, user, app, 'read');
    const wider = await refresh(first.refresh_token, { scope: 'read write' });
    expect(wider.statusCode).toBe(400);
    expect(wider.json().error).toBe('invalid_scope');
    // The failed attempt did not consume the token.
    const full = await login();
    const narrowed = await refresh(full.refresh_token, { scope: 'read' });
    expect(narrowed.json().scope).toBe('read');
    const stillOk = await refresh(first.refresh_token);
    expect(stillOk.statusCode).toBe(200);
  });

  it('refuses an expired refresh token (injected clock)', async () => {
    const first = await login();
    clock.advance(3600);
    const r = await refresh(first.refresh_token);
    expect(r.json().error).toBe('invalid_grant');
  });

  it('refuses another client\'s refresh token without harming it', async () => {
    const other = await makeClient(t, { grantTypes: ['refresh_token'] });
    const first = await login();
    expect((await refresh(first.refresh_token, {}, t, other)).json().error).toBe('invalid_grant');
    expect((await refresh(first.refresh_token)).statusCode).toBe(200);
  });

  it('lets exactly one of many concurrent refreshes with one token succeed', async () => {
    const first = await login();
    const results = await Promise.all(Array.from({ length: 6 }, () => refresh(first.refresh_token)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400, 400, 400, 400, 400]);
    // Reuse detection by the losers ended the winner's family too: nothing of it is live.
    const winner = results.find((r) => r.statusCode === 200)!.json();
    expect((await me(winner.access_token)).statusCode).toBe(401);
    expect((await refresh(winner.refresh_token)).statusCode).toBe(400);
  });

  it('keeps the family: the successor has the grant, user and scope, is linked from the retired token, and the retired access token ends', async () => {
    const first = await login();
    clock.advance(5);
    const second = (await refresh(first.refresh_token)).json();
    const row = (token: string) => t.db.selectFrom('refresh_tokens').selectAll().where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    const old = await row(first.refresh_token);
    expect(old).toMatchObject({ rotated_at: clock.now(), revoked_at: null, replaced_by: digest(second.refresh_token) });
    expect(await row(second.refresh_token)).toMatchObject({
      grant_id: old.grant_id,
      client_id: app.id,
      user_id: user.id,
      access_token_digest: digest(second.access_token),
      scope: 'read write',
      expires_at: new Date(clock.now().getTime() + 3600 * 1000),
      rotated_at: null,
      revoked_at: null,
      replaced_by: null,
    });
    const access = (token: string) => t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', digest(token)).executeTakeFirstOrThrow();
    expect((await access(first.access_token)).revoked_at).toEqual(clock.now());
    expect(await access(second.access_token)).toMatchObject({ grant_id: old.grant_id, user_id: user.id, scope: 'read write', kind: 'bearer', revoked_at: null });
  });

  it('writes nothing for a refresh it refuses', async () => {
    const other = await makeClient(t, { grantTypes: ['refresh_token'] });
    const first = await login();
    const family = (await t.db.selectFrom('refresh_tokens').select('grant_id').where('token_digest', '=', digest(first.refresh_token)).executeTakeFirstOrThrow()).grant_id;
    const rows = async () => ({
      refresh: await t.db.selectFrom('refresh_tokens').selectAll().where('grant_id', '=', family).execute(),
      access: await t.db.selectFrom('access_tokens').selectAll().where('grant_id', '=', family).execute(),
    });
    const before = await rows();
    expect((await refresh(first.refresh_token, {}, t, other)).statusCode).toBe(400);
    expect((await refresh(first.refresh_token, { scope: 'read write admin' })).statusCode).toBe(400);
    expect(await rows()).toEqual(before);
    clock.advance(3600);
    expect((await refresh(first.refresh_token)).statusCode).toBe(400);
    expect(await rows()).toEqual(before);
  });

  describe('with LATCH_REFRESH_REUSE_GRACE', () => {
    const g = useRefreshContext({ LATCH_REFRESH_REUSE_GRACE: '30' });
    const graceClock = withClock(g.ctx);

    it('rotates a just-retired token once more within the window and retires the pair it produced first', async () => {
      const first = await login(g.ctx, g.u, g.c);
      const lost = (await refresh(first.refresh_token, {}, g.ctx, g.c)).json();
      graceClock.advance(10);
      const retry = await refresh(first.refresh_token, {}, g.ctx, g.c);
      expect(retry.statusCode).toBe(200);
      const fresh = retry.json();
      expect((await me(lost.access_token, g.ctx)).statusCode).toBe(401);
      const lostRow = await g.ctx.db.selectFrom('refresh_tokens').select('revoked_at').where('token_digest', '=', digest(lost.refresh_token)).executeTakeFirstOrThrow();
      expect(lostRow.revoked_at).not.toBeNull();
      expect((await me(fresh.access_token, g.ctx)).statusCode).toBe(200);
      expect((await refresh(fresh.refresh_token, {}, g.ctx, g.c)).statusCode).toBe(200);
    });

    it('lets concurrent retries supersede one another without revoking the family: exactly one of their pairs stays live', async () => {
      const first = await login(g.ctx, g.u, g.c);
      expect((await refresh(first.refresh_token, {}, g.ctx, g.c)).statusCode).toBe(200);
      const results = await Promise.all(Array.from({ length: 4 }, () => refresh(first.refresh_token, {}, g.ctx, g.c)));
      for (const r of results) if (r.statusCode !== 200) expect(r.json().error).toBe('invalid_grant');
      const issued = results.filter((r) => r.statusCode === 200).map((r) => r.json());
      expect(issued.length).toBeGreaterThanOrEqual(1);
      const live = [];
      for (const p of issued) if ((await me(p.access_token, g.ctx)).statusCode === 200) live.push(p);
      expect(live).toHaveLength(1);
      expect((await refresh(live[0].refresh_token, {}, g.ctx, g.c)).statusCode).toBe(200);
    });

    it('treats a retry after the window as reuse and revokes the family', async () => {
      const first = await login(g.ctx, g.u, g.c);
      const next = (await refresh(first.refresh_token, {}, g.ctx, g.c)).json();
      graceClock.advance(31);
      expect((await refresh(first.refresh_token, {}, g.ctx, g.c)).statusCode).toBe(400);
      expect((await me(next.access_token, g.ctx)).statusCode).toBe(401);
    });

    it('treats a retry as reuse once the successor has been used', async () => {
      const first = await login(g.ctx, g.u, g.c);
      const next = (await refresh(first.refresh_token, {}, g.ctx, g.c)).json();
      const after = (await refresh(next.refresh_token, {}, g.ctx, g.c)).json();
      expect((await refresh(first.refresh_token, {}, g.ctx, g.c)).statusCode).toBe(400);
      expect((await me(after.access_token, g.ctx)).statusCode).toBe(401);
    });
  });
});
