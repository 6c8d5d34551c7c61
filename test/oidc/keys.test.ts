import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ManualClock, addSeconds } from '../../src/clock.js';
import { prune } from '../../src/housekeeping.js';
import {
  RETIREMENT_MARGIN_SECONDS,
  SIGNING_ALGS,
  SigningKeyError,
  SigningKeys,
  type SigningKeysDeps,
} from '../../src/oidc/keys.js';
import { testConfig } from '../helpers/app.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClient } from '../helpers/fixtures.js';

let t: TestDatabase;
let clock: ManualClock;
const SECRET = 'key-secret-for-these-tests-0123456789';
const config = testConfig({ LATCH_ID_TOKEN_TTL: '600', LATCH_ACCESS_TOKEN_TTL: '900', LATCH_KEY_ROTATION: '86400' });

const manager = (overrides: Partial<SigningKeysDeps> = {}) =>
  new SigningKeys({ db: t.db, clock, config, keySecret: SECRET, ...overrides });

const rows = () => t.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
const stateOf = async (kid: string) =>
  (await t.db.selectFrom('signing_keys').select('state').where('kid', '=', kid).executeTakeFirst())?.state;
const kidOf = (jws: string) => decodeProtectedHeader(jws).kid!;
const verify = async (jws: string, keys: SigningKeys) => jwtVerify(jws, createLocalJWKSet(await keys.jwks()), { currentDate: clock.now() });

beforeAll(async () => {
  t = await testDatabase();
});
afterAll(() => t.close());
beforeEach(async () => {
  await t.db.deleteFrom('signing_keys').execute();
  clock = new ManualClock();
});

describe('signing keys: creation', () => {
  it('creates one current and one next key per algorithm, and creating again adds nothing', async () => {
    const keys = manager();
    await keys.ensure();
    await keys.ensure();
    await manager().ensure();
    const all = await rows();
    expect(all).toHaveLength(SIGNING_ALGS.length * 2);
    for (const alg of SIGNING_ALGS) {
      expect(all.filter((r) => r.alg === alg).map((r) => r.state).sort()).toEqual(['current', 'next']);
    }
  });

  it('instances starting together on an empty database still end with exactly one current and one next key each', async () => {
    await Promise.all([manager().ensure(), manager().ensure(), manager().ensure()]);
    expect(await rows()).toHaveLength(SIGNING_ALGS.length * 2);
  });

  it('never serves an empty JWK Set: the first use creates the keys', async () => {
    const jwks = await manager().jwks();
    expect(jwks.keys).toHaveLength(SIGNING_ALGS.length * 2);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ use: 'sig', kid: expect.any(String) });
      expect(SIGNING_ALGS).toContain(key.alg);
      // Public parts only.
      expect(key).not.toHaveProperty('d');
      expect(key).not.toHaveProperty('p');
    }
    expect(jwks.keys.filter((k) => k.alg === 'RS256').map((k) => k.kty)).toEqual(['RSA', 'RSA']);
    expect(jwks.keys.find((k) => k.alg === 'ES256')).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(jwks.keys.find((k) => k.alg === 'EdDSA')).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
  });

  it('keeps private keys sealed: no PEM, no JWK `d` member, nothing that parses as a key', async () => {
    await manager().ensure();
    for (const row of await rows()) {
      const stored = JSON.stringify(row);
      expect(stored).not.toMatch(/BEGIN|PRIVATE KEY/);
      expect(stored).not.toMatch(/"d"|\\"d\\"/);
      expect(row.private_jwk_sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
      expect(JSON.parse(row.public_jwk)).not.toHaveProperty('d');
    }
  });

  it('refuses to start under another LATCH_KEY_SECRET with one clear line, not a crypto stack', async () => {
    await manager().ensure();
    const other = manager({ keySecret: 'a-different-secret-0123456789abcdef' });
    await expect(other.refresh()).rejects.toThrow(SigningKeyError);
    await expect(other.refresh()).rejects.toThrow(/^LATCH_KEY_SECRET: the signing key \S+ does not open under this secret/);
  });
});

describe('signing', () => {
  it.each(SIGNING_ALGS)('signs with the current %s key; the JWKS verifies it; the header names the kid and typ', async (alg) => {
    const keys = manager();
    const jws = await keys.sign({ sub: 'u1', iat: 1, exp: 9_999_999_999 }, { alg, typ: 'at+jwt' });
    const { payload, protectedHeader } = await verify(jws, keys);
    expect(payload.sub).toBe('u1');
    expect(protectedHeader).toEqual({ alg, kid: expect.any(String), typ: 'at+jwt' });
    const current = await t.db.selectFrom('signing_keys').select('kid').where('alg', '=', alg).where('state', '=', 'current').executeTakeFirstOrThrow();
    expect(protectedHeader.kid).toBe(current.kid);
  });

  it('signs RS256 with typ JWT by default', async () => {
    const header = decodeProtectedHeader(await manager().sign({ sub: 'x' }));
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
  });

  it('reads the keys once, not per signature', async () => {
    const keys = manager();
    await keys.ready();
    // Any read of signing_keys would now fail: signing must come from memory.
    await t.db.schema.alterTable('signing_keys').renameTo('signing_keys_away').execute();
    try {
      for (let i = 0; i < 5; i++) await keys.sign({ i });
      expect((await keys.jwks()).keys.length).toBeGreaterThan(0);
    } finally {
      await t.db.schema.alterTable('signing_keys_away').renameTo('signing_keys').execute();
    }
  });
});

describe('rotation', () => {
  it('promotes the published next key, retires the current one and creates a new next key', async () => {
    const keys = manager();
    const before = await keys.jwks();
    const oldToken = await keys.sign({ sub: 'before' });
    const oldKid = kidOf(oldToken);
    const nextKid = before.keys.find((k) => k.alg === 'RS256' && k.kid !== oldKid)!.kid;

    clock.advance(10);
    const rotation = await keys.rotate('RS256');
    expect(rotation).toEqual({ retired: oldKid, promoted: nextKid });

    // The key that signs now was in the JWK Set a relying party fetched before the rotation.
    const newToken = await keys.sign({ sub: 'after' });
    expect(kidOf(newToken)).toBe(nextKid);
    await expect(jwtVerify(newToken, createLocalJWKSet(before))).resolves.toBeDefined();
    // And what the old key signed still verifies against the JWK Set served after it.
    await expect(verify(oldToken, keys)).resolves.toBeDefined();

    expect(await stateOf(oldKid)).toBe('retired');
    expect(await stateOf(nextKid)).toBe('current');
    const rs = (await rows()).filter((r) => r.alg === 'RS256');
    expect(rs.map((r) => r.state).sort()).toEqual(['current', 'next', 'retired']);
    // Other algorithms are untouched.
    expect((await rows()).filter((r) => r.alg === 'ES256' && r.state === 'retired')).toEqual([]);
  });

  it('keeps a retired key published until the last token it signed has expired, then prune deletes it', async () => {
    const keys = manager();
    const oldKid = kidOf(await keys.sign({}));
    await keys.rotate('RS256');
    const row = await t.db.selectFrom('signing_keys').selectAll().where('kid', '=', oldKid).executeTakeFirstOrThrow();
    // max(ID token 600 s, access token 900 s) plus the margin for instances still signing with it.
    expect(row.retired_at).toEqual(clock.now());
    expect(row.delete_after).toEqual(addSeconds(clock.now(), 900 + RETIREMENT_MARGIN_SECONDS));

    clock.advance(900 + RETIREMENT_MARGIN_SECONDS - 1);
    expect((await prune(t.db, clock)).signing_keys).toBe(0);
    await keys.refresh();
    expect((await keys.jwks()).keys.map((k) => k.kid)).toContain(oldKid);

    clock.advance(2);
    await keys.refresh();
    expect((await keys.jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    expect((await prune(t.db, clock)).signing_keys).toBe(1);
    expect(await stateOf(oldKid)).toBeUndefined();
    expect((await rows()).filter((r) => r.alg === 'RS256').map((r) => r.state).sort()).toEqual(['current', 'next']);
  });

  it('keeps a retired key as long as the longest access-token lifetime a client overrides', async () => {
    await makeClient({ db: t.db, clock, config }, { accessTokenTtl: 50_000 });
    const keys = manager();
    const oldKid = kidOf(await keys.sign({}));
    await keys.rotate('RS256');
    const row = await t.db.selectFrom('signing_keys').selectAll().where('kid', '=', oldKid).executeTakeFirstOrThrow();
    expect(row.delete_after).toEqual(addSeconds(clock.now(), 50_000 + RETIREMENT_MARGIN_SECONDS));
    await t.db.deleteFrom('clients').execute();
  });

  it('a next key is never one that signed before: rotating twice retires two distinct keys', async () => {
    const keys = manager();
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const jwksBefore = (await keys.jwks()).keys.map((k) => k.kid);
      const kid = kidOf(await keys.sign({}));
      expect(jwksBefore).toContain(kid);
      expect(seen.has(kid)).toBe(false);
      seen.add(kid);
      clock.advance(60);
      await keys.rotate('RS256');
    }
  });
});

describe('automatic rotation (LATCH_KEY_ROTATION)', () => {
  it('rotates only when the current key is older than the interval', async () => {
    const keys = manager();
    await keys.ready();
    clock.advance(86_400 - 1);
    expect(await keys.rotateDue()).toEqual([]);
    clock.advance(1);
    expect((await keys.rotateDue()).sort()).toEqual([...SIGNING_ALGS].sort());
    expect(await keys.rotateDue()).toEqual([]);
  });

  it('two instances due at the same moment rotate once between them', async () => {
    const a = manager();
    const b = manager();
    await a.ready();
    await b.refresh();
    clock.advance(86_400);
    const [ra, rb] = await Promise.all([a.rotateDue(), b.rotateDue()]);
    expect(ra.length + rb.length).toBe(SIGNING_ALGS.length);
    const retired = (await rows()).filter((r) => r.state === 'retired');
    expect(retired).toHaveLength(SIGNING_ALGS.length);
    // b's cache said "due" even after a rotated: the guarded statement is what stopped it.
    expect(await b.rotateDue()).toEqual([]);
  });

  it('does nothing with LATCH_KEY_ROTATION=0', async () => {
    const keys = manager({ config: testConfig() });
    await keys.ready();
    clock.advance(10 * 365 * 86_400);
    expect(await keys.rotateDue()).toEqual([]);
  });
});
