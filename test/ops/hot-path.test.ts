import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock, addSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import { decideClient } from '../../src/manage/clients.js';
import { mintForNewGrant, preparePair } from '../../src/oauth/mint.js';
import { s256 } from '../../src/oauth/pkce.js';
import { findClientForAuth } from '../../src/store/clients.js';
import { insertCode } from '../../src/store/codes.js';
import { redeemCodeAtOnce, retireRefreshToken, revokeGrants, rotateRefreshTokenAtOnce, type PairToStore } from '../../src/store/tokens.js';
import { testConfig } from '../helpers/app.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';

/** The one-statement fast paths of the token endpoint leave exactly what the step-by-step paths leave. */
let t: TestDatabase;
const config = testConfig();
const clock = new ManualClock();
let client: Awaited<ReturnType<typeof makeClient>>;
let other: Awaited<ReturnType<typeof makeClient>>;
let user: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  t = await testDatabase();
  const ctx = { db: t.db, clock, config };
  client = await makeClient(ctx);
  other = await makeClient(ctx);
  user = await makeUser(ctx);
});
afterAll(() => t.close());

const refreshRow = (token: string) => t.db.selectFrom('refresh_tokens').selectAll().where('token_digest', '=', digest(token)).executeTakeFirst();
const accessRow = (tokenDigest: string) => t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', tokenDigest).executeTakeFirst();
const login = () => mintForNewGrant(t.db, config, { client, userId: user.id, scope: 'read write', now: clock.now(), withRefresh: true, codeDigest: null });

describe('rotateRefreshTokenAtOnce', () => {
  it('retires the token, ends its access token and stores the linked successor pair, in one statement', async () => {
    const first = await login();
    const before = await refreshRow(first.refresh_token!);
    clock.advance(5);
    const now = clock.now();
    const pair = preparePair(config, client, now, true);
    const rotated = await rotateRefreshTokenAtOnce(t.db, { refreshDigest: digest(first.refresh_token!), clientUuid: client.id, now, pair: pair.stored as Required<PairToStore> });
    expect(rotated).toEqual({ scope: 'read write' });

    const old = await refreshRow(first.refresh_token!);
    expect(old).toMatchObject({ rotated_at: now, revoked_at: null, replaced_by: pair.stored.refreshDigest });
    expect((await accessRow(digest(first.access_token)))!.revoked_at).toEqual(now);
    const next = await refreshRow(pair.refreshToken!);
    expect(next).toMatchObject({
      grant_id: before!.grant_id,
      client_id: client.id,
      user_id: user.id,
      access_token_digest: pair.stored.accessDigest,
      scope: 'read write',
      expires_at: addSeconds(now, config.refreshTokenTtl),
      rotated_at: null,
      revoked_at: null,
      replaced_by: null,
    });
    expect(await accessRow(pair.stored.accessDigest)).toMatchObject({
      grant_id: before!.grant_id,
      client_id: client.id,
      user_id: user.id,
      scope: 'read write',
      kind: 'bearer',
      expires_at: addSeconds(now, config.accessTokenTtl),
      revoked_at: null,
    });
  });

  it('does nothing, and says so, for a token that is rotated, revoked, expired, another client\'s or unknown', async () => {
    const rotatedAlready = await login();
    await retireRefreshToken(t.db, digest(rotatedAlready.refresh_token!), clock.now());
    const revoked = await login();
    await revokeGrants(t.db, [(await refreshRow(revoked.refresh_token!))!.grant_id], clock.now());
    const expiring = await mintForNewGrant(t.db, config, { client: { ...client, refresh_token_ttl: 10 }, userId: user.id, scope: 'read', now: clock.now(), withRefresh: true, codeDigest: null });
    const live = await login();
    clock.advance(10);
    const cases: Array<[string, string]> = [
      [rotatedAlready.refresh_token!, client.id],
      [revoked.refresh_token!, client.id],
      [expiring.refresh_token!, client.id],
      [live.refresh_token!, other.id],
      [newSecret(PREFIX.refreshToken), client.id],
    ];
    for (const [token, clientUuid] of cases) {
      const before = await refreshRow(token);
      const pair = preparePair(config, client, clock.now(), true);
      expect(await rotateRefreshTokenAtOnce(t.db, { refreshDigest: digest(token), clientUuid, now: clock.now(), pair: pair.stored as Required<PairToStore> })).toBeUndefined();
      expect(await refreshRow(token)).toEqual(before);
      expect(await accessRow(pair.stored.accessDigest)).toBeUndefined();
      expect(await refreshRow(pair.refreshToken!)).toBeUndefined();
    }
  });
});

describe('redeemCodeAtOnce', () => {
  const VERIFIER = 'v'.repeat(50);
  async function code(overrides: { redirect_uri?: string | null; code_challenge?: string | null; expiresIn?: number } = {}) {
    const value = newSecret(PREFIX.code);
    await insertCode(t.db, {
      code_digest: digest(value),
      client_id: client.id,
      user_id: user.id,
      redirect_uri: overrides.redirect_uri === undefined ? 'https://app.example/callback' : overrides.redirect_uri,
      scope: 'read',
      code_challenge: overrides.code_challenge === undefined ? s256(VERIFIER) : overrides.code_challenge,
      code_challenge_method: 'S256',
      expires_at: addSeconds(clock.now(), overrides.expiresIn ?? 60),
      created_at: clock.now(),
    });
    return digest(value);
  }
  const redeem = (codeDigest: string, input: { clientUuid?: string; redirectUri?: string | null; challenge?: string | null; withRefresh?: boolean } = {}) => {
    const now = clock.now();
    const pair = preparePair(config, client, now, input.withRefresh ?? true);
    const grantId = randomUUID();
    return redeemCodeAtOnce(t.db, {
      codeDigest,
      clientUuid: input.clientUuid ?? client.id,
      now,
      redirectUri: input.redirectUri === undefined ? 'https://app.example/callback' : input.redirectUri,
      challenge: input.challenge === undefined ? s256(VERIFIER) : input.challenge,
      grantId,
      pair: pair.stored,
    }).then((r) => ({ r, pair, grantId, now }));
  };

  it('consumes the code and opens its family with the first pair, in one statement', async () => {
    const d = await code();
    const { r, pair, grantId, now } = await redeem(d);
    expect(r).toEqual({ scope: 'read' });
    expect((await t.db.selectFrom('authorization_codes').select('consumed_at').where('code_digest', '=', d).executeTakeFirst())!.consumed_at).toEqual(now);
    expect(await t.db.selectFrom('grants').selectAll().where('id', '=', grantId).executeTakeFirst()).toMatchObject({ client_id: client.id, user_id: user.id, scope: 'read', code_digest: d, revoked_at: null });
    expect(await accessRow(pair.stored.accessDigest)).toMatchObject({ grant_id: grantId, user_id: user.id, scope: 'read', expires_at: addSeconds(now, config.accessTokenTtl) });
    expect(await refreshRow(pair.refreshToken!)).toMatchObject({ grant_id: grantId, access_token_digest: pair.stored.accessDigest, scope: 'read', expires_at: addSeconds(now, config.refreshTokenTtl) });
  });

  it('stores no refresh token for a client without the refresh_token grant', async () => {
    const { r, pair, grantId } = await redeem(await code(), { withRefresh: false });
    expect(r).toEqual({ scope: 'read' });
    expect(await accessRow(pair.stored.accessDigest)).toMatchObject({ grant_id: grantId });
    expect(await t.db.selectFrom('refresh_tokens').select('token_digest').where('grant_id', '=', grantId).execute()).toEqual([]);
  });

  it('leaves the code unused and stores nothing when anything does not match', async () => {
    const used = await code();
    await redeem(used);
    const cases: Array<[string, Parameters<typeof redeem>[1]]> = [
      [used, {}],
      [await code(), { clientUuid: other.id }],
      [await code(), { redirectUri: 'https://app.example/other' }],
      [await code(), { redirectUri: null }],
      [await code({ redirect_uri: null }), {}],
      [await code(), { challenge: s256('w'.repeat(50)) }],
      [await code(), { challenge: null }],
      [await code({ code_challenge: null }), {}],
      [await code({ expiresIn: 0 }), {}],
      [digest(newSecret(PREFIX.code)), {}],
    ];
    for (const [d, input] of cases) {
      const before = await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', d).executeTakeFirst();
      const { r, pair, grantId } = await redeem(d, input);
      expect(r).toBeUndefined();
      expect(await t.db.selectFrom('authorization_codes').selectAll().where('code_digest', '=', d).executeTakeFirst()).toEqual(before);
      expect(await t.db.selectFrom('grants').select('id').where('id', '=', grantId).executeTakeFirst()).toBeUndefined();
      expect(await accessRow(pair.stored.accessDigest)).toBeUndefined();
    }
  });
});

describe('the client cache for authentication', () => {
  it('sees a change made by this process at once', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    expect((await findClientForAuth(t.db, c.client_id))!.status).toBe('active');
    await decideClient(t.db, clock, c, 'suspend', { userId: null, reason: 'abuse' });
    expect((await findClientForAuth(t.db, c.client_id))!.status).toBe('suspended');
  });

  it('does not remember unknown client ids', async () => {
    const id = `nobody-${randomUUID()}`;
    expect(await findClientForAuth(t.db, id)).toBeUndefined();
    const c = await makeClient({ db: t.db, clock, config });
    expect((await findClientForAuth(t.db, c.client_id))!.id).toBe(c.id);
  });

  it('shares one read among concurrent requests for the same client', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    let queries = 0;
    const counted = t.db.withPlugin({
      transformQuery: (args) => args.node,
      // Compiled statements skip transformQuery; every executed one passes here.
      transformResult: async (args) => {
        queries++;
        return args.result;
      },
    });
    const found = await Promise.all(Array.from({ length: 20 }, () => findClientForAuth(counted, c.client_id)));
    expect(queries).toBe(1);
    expect(new Set(found.map((f) => f!.id))).toEqual(new Set([c.id]));
  });
});
