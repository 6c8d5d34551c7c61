import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { withClock } from '../helpers/clock.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { issueCode } from '../helpers/codes.js';
import { digest } from '../../src/crypto/secrets.js';
import { asAuth, clientPost } from '../helpers/forms.js';
import { newVerifier } from '../helpers/pkce.js';

const t = useTestContext();
/** Each test starts at TEST_EPOCH on a clock of its own, so moving time here never reaches another test. */
const clock = withClock(t);
let user: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;
let pub: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  user = await makeUser(t);
  app = await makeClient(t, { grantTypes: ['authorization_code', 'refresh_token'], accessTokenTtl: 1209600 });
  pub = await makeClient(t, { confidential: false, redirectUris: ['com.example.app:/cb'], grantTypes: ['authorization_code', 'refresh_token'] });
});

const exchange = (params: Record<string, string>, client = app) => clientPost(t.app, '/oauth/token', { grant_type: 'authorization_code', ...params }, asAuth(client));

describe('authorization_code grant', () => {
  it('exchanges a code for a token pair with the client\'s lifetime, created_at and no-store headers', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id, scope: 'read write' });
    const r = await exchange({ code, redirect_uri: 'https://app.example/callback' });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toEqual({
      access_token: expect.stringMatching(/^latch_at_/),
      token_type: 'Bearer',
      expires_in: 1209600,
      refresh_token: expect.stringMatching(/^latch_rt_/),
      scope: 'read write',
      created_at: Math.floor(t.clock.now().getTime() / 1000),
    });
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['pragma']).toBe('no-cache');
  });

  it('requires the redirect_uri the code was issued for', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
    expect((await exchange({ code })).json().error).toBe('invalid_grant');
    expect((await exchange({ code, redirect_uri: 'https://app.example/other' })).json().error).toBe('invalid_grant');
    expect((await exchange({ code, redirect_uri: 'https://app.example/callback' })).statusCode).toBe(200);
  });

  it('accepts an omitted redirect_uri when none was given at /authorize', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id, redirectUri: null });
    expect((await exchange({ code })).statusCode).toBe(200);
  });

  it('refuses a code issued to another client without burning it', async () => {
    const other = await makeClient(t);
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
    const stolen = await exchange({ code, redirect_uri: 'https://app.example/callback' }, other);
    expect(stolen.statusCode).toBe(400);
    expect(stolen.json().error).toBe('invalid_grant');
    expect((await exchange({ code, redirect_uri: 'https://app.example/callback' })).statusCode).toBe(200);
  });

  it('refuses an expired code (clock moved past LATCH_CODE_TTL)', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
    clock.advance(t.config.codeTtl);
    const r = await exchange({ code, redirect_uri: 'https://app.example/callback' });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('invalid_grant');
  });

  it('fails a second use with invalid_grant and revokes every token the code produced', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
    const first = (await exchange({ code, redirect_uri: 'https://app.example/callback' })).json();
    const me = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${first.access_token}` } });
    expect(me.statusCode).toBe(200);
    const second = await exchange({ code, redirect_uri: 'https://app.example/callback' });
    expect(second.statusCode).toBe(400);
    expect(second.json().error).toBe('invalid_grant');
    const after = await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${first.access_token}` } });
    expect(after.statusCode).toBe(401);
    const refresh = await clientPost(t.app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token }, asAuth(app));
    expect(refresh.json().error).toBe('invalid_grant');
  });

  it('lets exactly one of many concurrent exchanges of one code succeed', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => exchange({ code, redirect_uri: 'https://app.example/callback' })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
    // One family was minted from the code, and the duplicates' reuse detection ended it.
    const rows = await t.db.selectFrom('grants').selectAll().where('code_digest', '=', digest(code)).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.revoked_at).not.toBeNull();
  });

  it('opens one family bound to the code, with the first pair in it', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id, scope: 'read write' });
    const body = (await exchange({ code, redirect_uri: 'https://app.example/callback' })).json();
    const grant = await t.db.selectFrom('grants').selectAll().where('code_digest', '=', digest(code)).executeTakeFirstOrThrow();
    expect(grant).toMatchObject({ client_id: app.id, user_id: user.id, scope: 'read write', revoked_at: null });
    const access = await t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', digest(body.access_token)).executeTakeFirstOrThrow();
    expect(access).toMatchObject({ grant_id: grant.id, client_id: app.id, user_id: user.id, scope: 'read write', kind: 'bearer', revoked_at: null });
    expect(access.expires_at).toEqual(new Date(t.clock.now().getTime() + 1209600 * 1000));
    const refresh = await t.db.selectFrom('refresh_tokens').selectAll().where('token_digest', '=', digest(body.refresh_token)).executeTakeFirstOrThrow();
    expect(refresh).toMatchObject({ grant_id: grant.id, access_token_digest: digest(body.access_token), scope: 'read write', rotated_at: null, revoked_at: null });
  });

  it('issues no refresh token to a client without the refresh_token grant', async () => {
    const plain = await makeClient(t, { grantTypes: ['authorization_code'] });
    const code = await issueCode(t, { clientUuid: plain.id, userId: user.id });
    const r = await exchange({ code, redirect_uri: 'https://app.example/callback' }, plain);
    expect(r.statusCode).toBe(200);
    expect(r.json().refresh_token).toBeUndefined();
    const grant = await t.db.selectFrom('grants').select('id').where('code_digest', '=', digest(code)).executeTakeFirstOrThrow();
    expect(await t.db.selectFrom('refresh_tokens').select('token_digest').where('grant_id', '=', grant.id).execute()).toEqual([]);
  });

  it('accepts the only registered redirect_uri for a code issued without one, and nothing else', async () => {
    const code = await issueCode(t, { clientUuid: app.id, userId: user.id, redirectUri: null });
    expect((await exchange({ code, redirect_uri: 'https://app.example/other' })).json().error).toBe('invalid_grant');
    expect((await exchange({ code, redirect_uri: 'https://app.example/callback' })).statusCode).toBe(200);
    const two = await makeClient(t, { grantTypes: ['authorization_code'], redirectUris: ['https://app.example/callback', 'https://app.example/two'] });
    const ambiguous = await issueCode(t, { clientUuid: two.id, userId: user.id, redirectUri: null });
    expect((await exchange({ code: ambiguous, redirect_uri: 'https://app.example/callback' }, two)).json().error).toBe('invalid_grant');
    expect((await exchange({ code: ambiguous }, two)).statusCode).toBe(200);
  });

  it('spends nothing and opens no family when an exchange is refused', async () => {
    const verifier = newVerifier();
    const pkce = await issueCode(t, { clientUuid: pub.id, userId: user.id, redirectUri: 'com.example.app:/cb', verifier });
    const plain = await issueCode(t, { clientUuid: app.id, userId: user.id });
    const refused: Array<[string, Record<string, string>, typeof app]> = [
      [pkce, { redirect_uri: 'com.example.app:/cb', code_verifier: newVerifier() }, pub],
      [pkce, { code_verifier: verifier }, pub],
      [pkce, { redirect_uri: 'com.example.app:/cb', code_verifier: verifier }, app],
      [plain, { redirect_uri: 'https://app.example/callback', code_verifier: newVerifier() }, app],
      [plain, { redirect_uri: 'https://app.example/other' }, app],
    ];
    for (const [code, params, client] of refused) {
      expect((await exchange({ code, ...params }, client)).json().error).toBe('invalid_grant');
      expect(await t.db.selectFrom('grants').select('id').where('code_digest', '=', digest(code)).execute()).toEqual([]);
    }
    expect((await exchange({ code: pkce, redirect_uri: 'com.example.app:/cb', code_verifier: verifier }, pub)).statusCode).toBe(200);
    expect((await exchange({ code: plain, redirect_uri: 'https://app.example/callback' })).statusCode).toBe(200);
  });

  describe('PKCE (RFC 7636, S256)', () => {
    it('exchanges with the matching verifier and refuses a wrong or missing one', async () => {
      const verifier = newVerifier();
      const code = await issueCode(t, { clientUuid: pub.id, userId: user.id, redirectUri: 'com.example.app:/cb', verifier });
      const missing = await exchange({ code, redirect_uri: 'com.example.app:/cb' }, pub);
      expect(missing.json().error).toBe('invalid_grant');
      const wrong = await exchange({ code, redirect_uri: 'com.example.app:/cb', code_verifier: newVerifier() }, pub);
      expect(wrong.json().error).toBe('invalid_grant');
      const ok = await exchange({ code, redirect_uri: 'com.example.app:/cb', code_verifier: verifier }, pub);
      expect(ok.statusCode).toBe(200);
      expect(ok.json().refresh_token).toMatch(/^latch_rt_/);
    });

    it('refuses a verifier for a code issued without a challenge (downgrade)', async () => {
      const code = await issueCode(t, { clientUuid: app.id, userId: user.id });
      const r = await exchange({ code, redirect_uri: 'https://app.example/callback', code_verifier: newVerifier() });
      expect(r.json()).toMatchObject({ error: 'invalid_grant' });
      expect(r.json().error_description).toContain('without a PKCE challenge');
    });

    it('refuses a public client\'s code that has no challenge', async () => {
      const code = await issueCode(t, { clientUuid: pub.id, userId: user.id, redirectUri: 'com.example.app:/cb' });
      const r = await exchange({ code, redirect_uri: 'com.example.app:/cb' }, pub);
      expect(r.json().error_description).toBe('Public clients must use PKCE');
    });

    it('answers a malformed verifier with invalid_request', async () => {
      const r = await exchange({ code: 'x', code_verifier: 'short' });
      expect(r.statusCode).toBe(400);
      expect(r.json().error).toBe('invalid_request');
    });
  });

  it('refuses a client not registered for the grant with unauthorized_client', async () => {
    const cc = await makeClient(t, { grantTypes: ['client_credentials'] });
    const r = await exchange({ code: 'whatever' }, cc);
    expect(r.json().error).toBe('unauthorized_client');
  });

  it('answers a missing code with invalid_request', async () => {
    const r = await exchange({});
    expect(r.json()).toEqual({ error: 'invalid_request', error_description: 'The code parameter is missing' });
  });
});
