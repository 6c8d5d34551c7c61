import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { buildApp } from '../../src/app.js';
import { addSeconds } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import type { Database } from '../../src/db/schema.js';
import { s256 } from '../../src/oauth/pkce.js';
import { insertCode } from '../../src/store/codes.js';
import { decideDevice } from '../../src/store/device-codes.js';
import { DEVICE_CODE_GRANT_TYPE, normalizeUserCode } from '../../src/oauth/device.js';
import { useTestContext } from '../helpers/app.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost, cookiesFrom, form } from '../helpers/forms.js';
import { field } from '../helpers/html.js';

/**
 * The token endpoint's common requests cost one database statement each once the
 * client is known (its row is cached briefly): that is what keeps latch near the
 * benchmark's limit. A change that adds round trips fails here.
 */
const t = useTestContext();
let app: FastifyInstance;
let statements = 0;
let client: Awaited<ReturnType<typeof makeClient>>;
let user: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  client = await makeClient(t);
  user = await makeUser(t);
  const counted: Kysely<Database> = t.db.withPlugin({
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      statements++;
      return args.result;
    },
  });
  app = await buildApp({ config: t.config, db: counted, clock: t.clock, cookieSecret: 'x'.repeat(32) }, { logger: false });
});
afterAll(() => app.close()); // before the context closes: after-hooks run in reverse order

const post = (url: string, body: Record<string, string>) => clientPost(app, url, body, asAuth(client));

/**
 * Statements one request ran, just after a first request has put the client in
 * the cache (it keeps an entry for about a second: on a busy machine a cache
 * filled by an earlier test may have expired).
 */
async function statementsFor(request: () => Promise<{ statusCode: number }>): Promise<number> {
  expect((await post('/oauth/token', { grant_type: 'client_credentials' })).statusCode).toBe(200);
  statements = 0;
  const r = await request();
  expect(r.statusCode).toBe(200);
  return statements;
}

describe('database statements per request, with the client cached', () => {
  it('client_credentials: one', async () => {
    await post('/oauth/token', { grant_type: 'client_credentials' });
    expect(await statementsFor(() => post('/oauth/token', { grant_type: 'client_credentials' }))).toBe(1);
  });

  it('refresh_token: one', async () => {
    const first = (await post('/oauth/token', { grant_type: 'password', username: user.username, password: user.password })).json();
    expect(await statementsFor(() => post('/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token }))).toBe(1);
  });

  it('authorization_code with PKCE: one', async () => {
    const code = newSecret(PREFIX.code);
    const verifier = 'v'.repeat(60);
    await insertCode(t.db, {
      code_digest: digest(code),
      client_id: client.id,
      user_id: user.id,
      redirect_uri: 'https://app.example/callback',
      scope: 'read',
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
      expires_at: addSeconds(t.clock.now(), 60),
      created_at: t.clock.now(),
    });
    const body = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'https://app.example/callback' };
    expect(await statementsFor(() => post('/oauth/token', body))).toBe(1);
  });

  it('authorization_code and refresh_token of an openid grant (ID token signed, its user read in the same statement): one each', async () => {
    // Keys are read once per instance (then refreshed in the background), never per request.
    await app.signingKeys.jwks();
    const code = newSecret(PREFIX.code);
    const verifier = 'o'.repeat(60);
    await insertCode(
      t.db,
      {
        code_digest: digest(code),
        client_id: client.id,
        user_id: user.id,
        redirect_uri: 'https://app.example/callback',
        scope: 'openid profile email',
        code_challenge: s256(verifier),
        code_challenge_method: 'S256',
        expires_at: addSeconds(t.clock.now(), 60),
        created_at: t.clock.now(),
      },
      { nonce: 'n', authTime: t.clock.now(), sid: 's', amr: ['pwd'] },
    );
    let body: Record<string, string> = {};
    const exchangeAndKeep = async () => {
      const r = await post('/oauth/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'https://app.example/callback' });
      body = r.json();
      return r;
    };
    expect(await statementsFor(exchangeAndKeep)).toBe(1);
    expect(body.id_token).toBeTypeOf('string');
    let refreshed: Record<string, string> = {};
    const refreshAndKeep = async () => {
      const r = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: body.refresh_token! });
      refreshed = r.json();
      return r;
    };
    expect(await statementsFor(refreshAndKeep)).toBe(1);
    expect(refreshed.id_token).toBeTypeOf('string');
  });

  it('introspection and userinfo: one', async () => {
    const tokens = (await post('/oauth/token', { grant_type: 'password', username: user.username, password: user.password })).json();
    expect(await statementsFor(() => post('/oauth/introspect', { token: tokens.access_token }))).toBe(1);
    expect(await statementsFor(() => app.inject({ method: 'GET', url: '/oauth/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } }))).toBe(1);
  });

  it('device_code polls: one, whether pending (slow_down here) or claiming the tokens', async () => {
    const device = await makeClient(t, { redirectUris: [], grantTypes: ['device_code'] });
    const asDevice = (url: string, body: Record<string, string>) =>
      app.inject({ method: 'POST', url, headers: { authorization: basic(device.client_id, device.secret), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(body).toString() });
    const started = (await asDevice('/oauth/device_authorization', {})).json();
    const poll = () => asDevice('/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: started.device_code });
    expect((await poll()).json().error).toBe('authorization_pending');
    statements = 0;
    expect((await poll()).json().error).toBe('slow_down');
    expect(statements).toBe(1);
    await decideDevice(t.db, { userCodeDigest: digest(normalizeUserCode(started.user_code)!), userId: user.id, status: 'approved', now: t.clock.now() });
    statements = 0;
    expect((await poll()).statusCode).toBe(200);
    expect(statements).toBe(1);
  });
});

/**
 * A sign-in is argon2-bound, and everything around the hash competes with it
 * for the cores (the benchmark's sign-in rows split the CPU): each statement
 * here is a round trip and a commit.
 */
describe('database statements per sign-in', () => {
  it('POST /login: seven (three throttle counters, the user with its second-factor flag, the forgiveness, the audit event, the session)', async () => {
    const page = await app.inject({ method: 'GET', url: '/login' });
    const body = { _csrf: field(page.body, '_csrf')!, return_to: '/', username: user.username, password: user.password };
    statements = 0;
    const r = await app.inject({ method: 'POST', url: '/login', ...form(body), headers: { ...form(body).headers, cookie: cookiesFrom(page.headers['set-cookie']) } });
    expect(r.statusCode).toBe(303);
    expect(r.headers['set-cookie']).toBeDefined();
    expect(statements).toBe(7);
  });

  it('the password grant: seven (the same checks, then grant and pair in one statement)', async () => {
    await post('/oauth/token', { grant_type: 'client_credentials' }); // the client into the cache
    statements = 0;
    const r = await post('/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope: 'read' });
    expect(r.statusCode).toBe(200);
    expect(statements).toBe(7);
  });
});
