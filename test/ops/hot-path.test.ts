import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../src/clock.js';
import { decideClient } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { findClientForAuth } from '../../src/store/clients.js';
import { testConfig } from '../helpers/app.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClient } from '../helpers/fixtures.js';

/** The client cache that keeps the token endpoint's common requests at one statement. */
let t: TestDatabase;
const config = testConfig();
const clock = new ManualClock();

beforeAll(async () => {
  t = await testDatabase();
});
afterAll(() => t.close());

describe('the client cache for authentication', () => {
  it('sees a change made by this process at once', async () => {
    const c = await makeClient({ db: t.db, clock, config });
    expect((await findClientForAuth(t.db, c.client_id))!.status).toBe('active');
    await decideClient({ db: t.db, clock }, OPERATOR, c.client_id, 'suspend', { reason: 'abuse' });
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
