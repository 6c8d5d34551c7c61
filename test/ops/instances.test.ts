import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { testConfig } from '../helpers/app.js';
import { issueCode } from '../helpers/codes.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { newVerifier } from '../helpers/pkce.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/** Two real latch processes on one PostgreSQL database must behave as one server. */
let database: { url: string; drop(): Promise<void> };
let direct: DatabaseHandle;
let a: RunningServer;
let b: RunningServer;
let client: Awaited<ReturnType<typeof makeClient>>;
let user: Awaited<ReturnType<typeof makeUser>>;
const REDIRECT = 'https://app.example/callback';

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  direct = openPostgres(database.url);
  const ctx = { db: direct.db, clock: new ManualClock(Date.now()), config: testConfig() };
  client = await makeClient(ctx, { redirectUris: [REDIRECT] });
  user = await makeUser(ctx);
  const env = { DATABASE_URL: database.url, LATCH_COOKIE_SECRET: 'm'.repeat(40), LATCH_KEY_SECRET: 'k'.repeat(40) };
  [a, b] = await Promise.all([startServer(env), startServer(env)]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await direct?.close();
  await database?.drop();
});

const token = async (server: RunningServer, body: Record<string, string>) => {
  const r = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, string> };
};
const userinfo = async (server: RunningServer, accessToken: string) =>
  (await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status;

/** An authorization code with a PKCE challenge, stored as the authorize endpoint stores one (real time: the servers use it). */
async function issueCodeNow(): Promise<{ code: string; verifier: string }> {
  const verifier = newVerifier();
  const ctx = { db: direct.db, clock: new ManualClock(Date.now()), config: testConfig() };
  return { code: await issueCode(ctx, { clientUuid: client.id, userId: user.id, redirectUri: REDIRECT, scope: 'read', verifier }), verifier };
}

describe('two latch processes on one database', () => {
  it('run as two processes', () => {
    expect(a.pid).not.toBe(b.pid);
    expect(a.url).not.toBe(b.url);
  });

  it('a code redeemed at one is spent at the other, and its replay there revokes what it produced', async () => {
    const { code, verifier } = await issueCodeNow();
    const first = await token(a, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(first.status).toBe(200);
    expect(await userinfo(b, first.json.access_token!)).toBe(200);
    const replay = await token(b, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_grant');
    expect(await userinfo(a, first.json.access_token!)).toBe(401);
    expect((await token(a, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token! })).status).toBe(400);
  });

  it('one code sent to both at once is redeemed exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      const { code, verifier } = await issueCodeNow();
      const body = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT };
      const answers = await Promise.all([token(a, body), token(b, body), token(a, body), token(b, body)]);
      expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
      expect(answers.filter((r) => r.status === 400 && r.json.error === 'invalid_grant')).toHaveLength(3);
    }
  });

  it('a refresh token rotated at one is dead at the other, and presenting it there revokes the family', async () => {
    const start = await token(a, { grant_type: 'password', username: user.username, password: user.password });
    expect(start.status).toBe(200);
    const rotated = await token(a, { grant_type: 'refresh_token', refresh_token: start.json.refresh_token! });
    expect(rotated.status).toBe(200);
    expect(await userinfo(b, start.json.access_token!)).toBe(401);
    expect(await userinfo(b, rotated.json.access_token!)).toBe(200);

    const replay = await token(b, { grant_type: 'refresh_token', refresh_token: start.json.refresh_token! });
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_grant');
    expect(await userinfo(a, rotated.json.access_token!)).toBe(401);
    expect((await token(a, { grant_type: 'refresh_token', refresh_token: rotated.json.refresh_token! })).status).toBe(400);
  });

  it('one refresh token rotated at both at once yields exactly one new pair', async () => {
    const start = await token(b, { grant_type: 'password', username: user.username, password: user.password });
    const body = { grant_type: 'refresh_token', refresh_token: start.json.refresh_token! };
    const answers = await Promise.all([token(a, body), token(b, body)]);
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
    expect(answers.filter((r) => r.status === 400)).toHaveLength(1);
  });

  it('a token revoked at one is refused at the other at once', async () => {
    const issued = await token(a, { grant_type: 'client_credentials' });
    const introspect = async (server: RunningServer) =>
      (await (
        await fetch(`${server.url}/oauth/introspect`, {
          method: 'POST',
          headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: issued.json.access_token! }),
        })
      ).json()) as { active: boolean };
    expect((await introspect(b)).active).toBe(true);
    const revoke = await fetch(`${a.url}/oauth/revoke`, {
      method: 'POST',
      headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: issued.json.access_token! }),
    });
    expect(revoke.status).toBe(200);
    expect((await introspect(b)).active).toBe(false);
  });

  it('count failed sign-ins across both: failures split between them block the account (from that address) at both', async () => {
    const victim = await makeUser({ db: direct.db, clock: new ManualClock(Date.now()) });
    const attempt = (server: RunningServer, password: string) =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic(client.client_id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', username: victim.username, password }),
      });
    // Five attempts are free per account and address; four failures alternate between the two processes.
    for (let i = 0; i < 4; i++) expect((await attempt(i % 2 === 0 ? a : b, `wrong password ${i}`)).status).toBe(400);
    expect((await attempt(b, victim.password)).status).toBe(200);
    // A success clears this address's count on the account; five more failures, split, use up its allowance
    // and the next attempt is refused at either process before its password is checked.
    for (let i = 0; i < 5; i++) expect((await attempt(i % 2 === 0 ? a : b, `wrong again ${i}`)).status).toBe(400);
    for (const server of [a, b]) {
      const blocked = await attempt(server, victim.password);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await blocked.json()).toMatchObject({ error: 'rate_limited' });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^latch_login_throttled_total [1-9]/m);
    }
    // Another account is not affected.
    expect((await token(a, { grant_type: 'password', username: user.username, password: user.password })).status).toBe(200);
  });
});
