import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { endSessionsOfUser } from '../../src/accounts/sessions.js';
import { BackchannelLogout, BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_TTL_SECONDS } from '../../src/oidc/backchannel.js';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { encode, pagePost } from '../helpers/forms.js';
import { REDIRECT, sessionOf, signInToApp, startReceiver } from './helpers.js';

const ISSUER = 'https://id.example.com';
const t = useTestContext({ LATCH_ISSUER: ISSUER });
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await t.app.backchannelLogout.idle();
  await receiver.close();
});

/** Verified as the relying party would: against latch's published JWKS. */
async function verifyLogoutToken(token: string, audience: string) {
  const jwks = createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/oauth/jwks' })).json());
  return jwtVerify(token, jwks, { issuer: ISSUER, audience, typ: 'logout+jwt', currentDate: t.clock.now() });
}

const tokensSince = (n: number) => receiver.received.slice(n).map((r) => r.body.get('logout_token')!);

describe('a session ends: each app it signed in to with a back-channel URI gets a logout token', () => {
  it('the /logout page: one POST to the app the session signed in to, none to others', async () => {
    const user = await makeUser(t);
    const withUri = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri });
    const withoutUri = await makeClient(t, { redirectUris: [REDIRECT] });
    const notSignedIn = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri });
    const session = await sessionOf(t, user.id);
    const elsewhere = await sessionOf(t, user.id);
    await signInToApp(t, withUri, user.id, session.sid);
    await signInToApp(t, withoutUri, user.id, session.sid);
    await signInToApp(t, notSignedIn, user.id, elsewhere.sid);
    const start = receiver.received.length;

    const r = await pagePost(t, session, '/logout');
    expect(r.statusCode).toBe(303);
    await t.app.backchannelLogout.idle();

    const got = receiver.received.slice(start);
    expect(got.length).toBe(1);
    expect(got[0]!.contentType).toBe('application/x-www-form-urlencoded');
    const token = got[0]!.body.get('logout_token')!;
    const { payload, protectedHeader } = await verifyLogoutToken(token, withUri.client_id);
    expect(protectedHeader).toMatchObject({ typ: 'logout+jwt', alg: 'RS256' });
    expect(payload).toMatchObject({ iss: ISSUER, aud: withUri.client_id, sub: user.id, sid: session.sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } });
    expect(payload.nonce).toBeUndefined();
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp! - payload.iat!).toBe(LOGOUT_TOKEN_TTL_SECONDS);
  });

  it('signs with the algorithm the app chose for its ID tokens', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri, idTokenAlg: 'ES256' });
    const session = await sessionOf(t, user.id);
    await signInToApp(t, client, user.id, session.sid);
    const start = receiver.received.length;
    await pagePost(t, session, '/logout');
    await t.app.backchannelLogout.idle();
    const [token] = tokensSince(start);
    expect(decodeProtectedHeader(token!).alg).toBe('ES256');
    expect((await verifyLogoutToken(token!, client.client_id)).payload.sid).toBe(session.sid);
  });

  it('RP-initiated logout at /oauth/logout tells the app too', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri, postLogoutRedirectUris: ['https://app.example/bye'] });
    const session = await sessionOf(t, user.id);
    const { id_token } = await signInToApp(t, client, user.id, session.sid);
    const start = receiver.received.length;
    const r = await t.app.inject({ method: 'GET', url: `/oauth/logout?${encode({ id_token_hint: id_token, post_logout_redirect_uri: 'https://app.example/bye' })}`, headers: { cookie: session.cookie } });
    expect(r.statusCode).toBe(303);
    await t.app.backchannelLogout.idle();
    const [token] = tokensSince(start);
    expect((await verifyLogoutToken(token!, client.client_id)).payload).toMatchObject({ sid: session.sid, sub: user.id });
  });

  it('endSessionsOfUser (reset, disable, sign out others): one token per ended session, none for the one kept', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: receiver.uri });
    const a = await sessionOf(t, user.id);
    const b = await sessionOf(t, user.id);
    const kept = await sessionOf(t, user.id);
    for (const s of [a, b, kept]) await signInToApp(t, client, user.id, s.sid);
    const keptDigest = (await t.db.selectFrom('sessions').select('id_digest').where('sid', '=', kept.sid).executeTakeFirstOrThrow()).id_digest;
    const start = receiver.received.length;

    const ended = await endSessionsOfUser({ db: t.db, onSessionsEnded: t.app.backchannelLogout.notify }, user.id, { exceptIdDigest: keptDigest });
    expect(ended.map((e) => e.sid).sort()).toEqual([a.sid, b.sid].sort());
    await t.app.backchannelLogout.idle();

    const sids = await Promise.all(tokensSince(start).map(async (tok) => (await verifyLogoutToken(tok, client.client_id)).payload.sid));
    expect(sids.sort()).toEqual([a.sid, b.sid].sort());
  });
});

describe('the user never waits, and failures are logged without the token', () => {
  it('a relying party that does not answer: sign-out returns at once; the delivery times out and is logged', async () => {
    const slow = await startReceiver(() => null);
    const lines: { obj: Record<string, unknown>; msg: string }[] = [];
    // Built as the command line builds it (no server), with a short timeout instead of BACKCHANNEL_TIMEOUT_MS.
    const notifier = BackchannelLogout.forManage({
      ...t,
      keySecret: 'test-key-secret-0123456789abcdef0123',
      timeoutMs: 300,
      log: { warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) },
    });
    const user = await makeUser(t);
    const client = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: slow.uri });
    const session = await sessionOf(t, user.id);
    await signInToApp(t, client, user.id, session.sid);

    const started = Date.now();
    const ended = await endSessionsOfUser({ db: t.db, onSessionsEnded: notifier.notify }, user.id);
    expect(ended.length).toBe(1);
    expect(Date.now() - started).toBeLessThan(300);
    await slow.waitFor(1);
    await notifier.idle();
    const token = slow.received[0]!.body.get('logout_token')!;
    expect(lines.length).toBe(1);
    expect(lines[0]!.msg).toContain('back-channel logout');
    expect(lines[0]!.obj).toMatchObject({ client_id: client.client_id, uri: slow.uri, reason: 'timed out' });
    expect(JSON.stringify(lines)).not.toContain(token);
    await slow.close();
  });

  it('a relying party that answers 500 is logged with the status, never the token', async () => {
    const failing = await startReceiver(() => 500);
    const lines: string[] = [];
    const notifier = BackchannelLogout.forManage({ ...t, keySecret: 'test-key-secret-0123456789abcdef0123', log: { warn: (obj, msg) => lines.push(JSON.stringify({ ...obj, msg })) } });
    const user = await makeUser(t);
    const client = await makeClient(t, { redirectUris: [REDIRECT], backchannelLogoutUri: failing.uri });
    const session = await sessionOf(t, user.id);
    await signInToApp(t, client, user.id, session.sid);
    await endSessionsOfUser({ db: t.db, onSessionsEnded: notifier.notify }, user.id);
    await notifier.idle();
    const token = failing.received[0]!.body.get('logout_token')!;
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ client_id: client.client_id, status: 500 });
    expect(lines[0]).not.toContain(token);
    await failing.close();
  });
});
