import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { buildApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { testConfig } from '../helpers/app.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';

/** Two latch instances (own pools, own key caches) on one PostgreSQL database. */
let database: { url: string; drop(): Promise<void> };
const handles: DatabaseHandle[] = [];
const apps: FastifyInstance[] = [];
const urls: string[] = [];

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  const clock = new ManualClock(Date.now());
  const config = testConfig({ LATCH_ISSUER: 'https://id.example.com' });
  for (let i = 0; i < 2; i++) {
    const handle = openPostgres(database.url);
    handles.push(handle);
    const app = await buildApp({ config, db: handle.db, clock, cookieSecret: 'x'.repeat(32), pool: handle.pool }, { logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    await app.signingKeys.ready();
    const address = app.server.address();
    urls.push(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    apps.push(app);
  }
});

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const handle of handles) await handle.close();
  await database?.drop();
});

describe('a key rotation under load', () => {
  it('produces no token that fails to verify against either instance\'s JWKS (no unknown kid)', async () => {
    const [a, b] = apps as [FastifyInstance, FastifyInstance];
    const tokens: string[] = [];
    const oldKid = decodeProtectedHeader(await b.signingKeys.sign({ n: -1 })).kid!;
    // What a relying party cached before the rotation.
    const cachedBefore = createLocalJWKSet(await (await fetch(`${urls[1]}/oauth/jwks`)).json());

    let rotation: Promise<unknown> | undefined;
    let rotated = false;
    let refreshed: Promise<void> | undefined;
    let refreshDone = false;
    let signedWithNewAfterRefresh = 0;
    // Bounded: stops once b has signed with the new key a while, or after 2000 rounds at most.
    for (let i = 0; i < 2000 && signedWithNewAfterRefresh < 20; i++) {
      const [fromA, fromB] = await Promise.all([a.signingKeys.sign({ n: i, by: 'a' }), b.signingKeys.sign({ n: i, by: 'b' })]);
      tokens.push(fromA, fromB);
      if (i === 10) rotation = a.signingKeys.rotate('RS256').then(() => (rotated = true));
      // b notices the rotation only when its background refresh runs: simulate one, racing its own signing.
      if (rotated && !refreshed) refreshed = b.signingKeys.refresh().then(() => void (refreshDone = true));
      if (refreshDone && decodeProtectedHeader(fromB).kid !== oldKid) signedWithNewAfterRefresh++;
    }
    await rotation;
    await refreshed;
    expect(rotated).toBe(true);
    expect(signedWithNewAfterRefresh).toBe(20);

    const kidsByB = new Set(tokens.filter((_, i) => i % 2 === 1).map((tk) => decodeProtectedHeader(tk).kid));
    // b signed with the old key during the rotation and with the new one after it.
    expect(kidsByB.size).toBe(2);
    expect(kidsByB.has(oldKid)).toBe(true);

    // The key that signs after the rotation was already in the JWKS a relying party cached before it.
    for (const token of tokens) await expect(jwtVerify(token, cachedBefore)).resolves.toBeDefined();

    for (const url of urls) {
      const jwks = createRemoteJWKSet(new URL(`${url}/oauth/jwks`));
      for (const token of tokens) {
        await expect(jwtVerify(token, jwks)).resolves.toMatchObject({ protectedHeader: { alg: 'RS256' } });
      }
    }
  });
});
