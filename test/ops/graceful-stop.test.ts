import { passwordChecks } from '../../src/accounts/hashing-limiter.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ManualClock } from '../../src/clock.js';
import { digest } from '../../src/crypto/secrets.js';
import { openPostgres, type DatabaseHandle } from '../../src/db/database.js';
import { testConfig } from '../helpers/app.js';
import { freshPostgresDatabase, requirePostgresServer } from '../helpers/db.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { request, type HttpOutcome } from '../helpers/http.js';
import { startServer } from '../helpers/server.js';

let database: { url: string; drop(): Promise<void> };
let direct: DatabaseHandle;

beforeAll(async () => {
  database = await freshPostgresDatabase(await requirePostgresServer());
  direct = openPostgres(database.url);
});
afterAll(async () => {
  await direct?.close();
  await database?.drop();
});

/** Connection-level errors that mean the request was never accepted. */
const NOT_ACCEPTED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

describe('SIGTERM under load', () => {
  it('answers every accepted request in full, leaves no token half-written, and exits 0 before the deadline', async () => {
    const ctx = { db: direct.db, clock: new ManualClock(Date.now()), config: testConfig() };
    const client = await makeClient(ctx);
    const user = await makeUser(ctx);
    const server = await startServer({ DATABASE_URL: database.url, LATCH_COOKIE_SECRET: 'g'.repeat(40), LATCH_KEY_SECRET: 'k'.repeat(40) });
    const auth = basic(client.client_id, client.secret);
    const post = (body: Record<string, string>) =>
      request(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body).toString(),
      });

    // Each rotation chain starts from its own refresh token.
    const chains: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post({ grant_type: 'password', username: user.username, password: user.password });
      expect(r.kind === 'answer' && r.status).toBe(200);
      chains.push(JSON.parse((r as { body: string }).body).refresh_token);
    }
    const before = Number((await sql<{ n: number }>`select count(*)::int as n from access_tokens`.execute(direct.db)).rows[0]!.n);

    const outcomes: Array<HttpOutcome & { grant: string }> = [];
    let okCount = 0;
    const worker = async (grant: string, next: () => Record<string, string>, onOk?: (body: any) => void) => {
      // Bounded: at most 5,000 requests per worker; each loop ends at the first non-200.
      for (let i = 0; i < 5000; i++) {
        const outcome = await post(next());
        outcomes.push({ ...outcome, grant });
        if (outcome.kind !== 'answer' || outcome.status !== 200) return;
        okCount++;
        onOk?.(JSON.parse(outcome.body));
      }
    };
    const workers = [
      ...Array.from({ length: 8 }, () => worker('client_credentials', () => ({ grant_type: 'client_credentials' }))),
      ...chains.map((first) => {
        let current = first;
        return worker('refresh_token', () => ({ grant_type: 'refresh_token', refresh_token: current }), (b) => (current = b.refresh_token));
      }),
      // Password checks are slow (argon2id), so some are surely running at the signal. As many as one
      // address may have running and waiting: more would be refused with 429 by the hashing limiter.
      ...Array.from({ length: passwordChecks.limits.perAddress + passwordChecks.limits.queuedPerAddress }, () => worker('password', () => ({ grant_type: 'password', username: user.username, password: user.password }))),
    ];

    // Let the load build, then stop the server while it runs.
    for (let i = 0; i < 300 && okCount < 200; i++) await new Promise((r) => setTimeout(r, 10));
    expect(okCount).toBeGreaterThanOrEqual(200);
    const signalledAt = performance.now();
    const exit = server.stop('SIGTERM').then((e) => ({ ...e, at: performance.now() }));
    await Promise.all(workers);
    const { code, at: exitedAt } = await exit;

    // Exit code 0: it finished before its 10 s deadline (which exits 1).
    expect(code).toBe(0);
    expect(server.output()).not.toContain('stop deadline passed');

    const answers = outcomes.filter((o): o is Extract<typeof o, { kind: 'answer' }> => o.kind === 'answer');
    const refused = outcomes.filter((o) => o.kind === 'refused');
    // Every answer is whole: a token response, or an RFC-shaped 503 while draining.
    for (const a of answers) {
      expect(a.complete).toBe(true);
      const body = JSON.parse(a.body);
      if (a.status === 200) {
        expect(body).toMatchObject({ access_token: expect.stringMatching(/^latch_at_/), token_type: 'Bearer' });
      } else {
        expect(a.status).toBe(503);
        expect(body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
      }
    }
    // Requests never accepted fail at the connection, before any response byte.
    for (const r of refused) expect(NOT_ACCEPTED.has((r as { code: string }).code)).toBe(true);
    // Requests running at the signal were finished and answered after it.
    expect(answers.filter((a) => a.status === 200 && a.at > signalledAt).length).toBeGreaterThan(0);
    expect(exitedAt).toBeGreaterThan(signalledAt);

    // Nothing half-written: one access token per 200 answer, no more (none minted
    // and lost), and every rotation complete.
    const oks = answers.filter((a) => a.status === 200);
    const after = Number((await sql<{ n: number }>`select count(*)::int as n from access_tokens`.execute(direct.db)).rows[0]!.n);
    expect(after - before).toBe(oks.length);
    for (const a of oks) {
      const row = await direct.db.selectFrom('access_tokens').select('token_digest').where('token_digest', '=', digest(JSON.parse(a.body).access_token)).executeTakeFirst();
      expect(row).toBeDefined();
    }
    const broken = await sql<{ n: number }>`
      select count(*)::int as n from refresh_tokens r
      where (r.rotated_at is not null and (r.replaced_by is null or not exists (select 1 from refresh_tokens s where s.token_digest = r.replaced_by)))
         or r.access_token_digest is null
         or not exists (select 1 from access_tokens a where a.token_digest = r.access_token_digest)`.execute(direct.db);
    expect(broken.rows[0]!.n).toBe(0);
  });
});
