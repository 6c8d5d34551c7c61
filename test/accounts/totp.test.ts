import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { acceptTotpCode, type TotpDeps } from '../../src/accounts/totp.js';
import { SECOND_STEP_POLICY } from '../../src/accounts/throttle.js';
import { sealer } from '../../src/crypto/sealed.js';
import { loggerOptions } from '../../src/logger.js';
import { createTestContext, type TestContext } from '../helpers/app.js';
import { TEST_EPOCH } from '../helpers/clock.js';
import { ManualClock } from '../../src/clock.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs } from '../helpers/session.js';
import { captureAuditLog, eventsOf, lastEvent } from '../audit/helpers.js';
import { appCode, byId, enrol, passwordStep, post, recoveryCodesIn, secondStep } from './helpers.js';

let t: TestContext;
const clock = new ManualClock(TEST_EPOCH);
let app: FastifyInstance;
let logs = '';
const audit = captureAuditLog();
let ctx: Pick<TestContext, 'db' | 'clock'> & { app: FastifyInstance };
let deps: TotpDeps;

beforeAll(async () => {
  t = await createTestContext({ LATCH_SITE_NAME: 'Acme Sign-in' });
  // These tests move one file-wide clock in order (TOTP steps only move forward).
  t.clock.use(clock);
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  // Every line the server logs, at its most talkative, for the "nothing secret in logs" check.
  app = await buildApp({ config: t.config, db: t.db, clock: t.clock, cookieSecret: 'test-cookie-secret-0123456789abcdef' }, { logger: { ...(loggerOptions('trace') as object), stream } });
  await app.ready();
  ctx = { app, db: t.db, clock: t.clock };
  deps = { db: t.db, clock: t.clock, sealer: sealer(t.config.keySecret!, 'totp-secret'), siteName: t.config.siteName };
});
afterAll(async () => {
  await app.close();
  await t.close();
});

/** Everything secret this file used, for the log check at the end. */
const secrets: string[] = [];

describe('enrolment on /account/security', () => {
  it('shows the secret as text, the otpauth URI and a QR code as inline SVG; the secret is sealed at rest', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(ctx, user.id);
    const before = await app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    expect(before.statusCode).toBe(200);
    expect(before.body).toContain('Enable two-step sign-in');
    expect(before.body).not.toContain('id="totp-secret"');

    expect((await post(ctx, session, '/account/security/totp', {})).statusCode).toBe(303);
    const page = await app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    const secret = byId(page.body, 'code', 'totp-secret')!;
    secrets.push(secret);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = byId(page.body, 'code', 'totp-uri')!;
    const parsed = new URL(uri);
    expect(parsed.protocol).toBe('otpauth:');
    expect(parsed.host).toBe('totp');
    expect(decodeURIComponent(parsed.pathname)).toBe(`/Acme Sign-in:${user.username}`);
    expect(parsed.searchParams.get('secret')).toBe(secret);
    expect(parsed.searchParams.get('issuer')).toBe('Acme Sign-in');
    expect(page.body).toMatch(/<div class="qr" id="totp-qr"><svg [^>]*viewBox=/);
    expect(page.body).not.toMatch(/<svg[^>]* style=/);
    expect(page.body).toContain('<form id="totp-enroll-form"');
    expect(page.body).toMatch(/<input id="enroll-code" name="code"/);

    const row = await t.db.selectFrom('user_totp').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.confirmed_at).toBeNull();
    expect(row.secret_sealed).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(deps.sealer.open(row.secret_sealed, user.id)).toBe(secret);
    // Bound to its row: the sealed value does not open for another user.
    expect(() => deps.sealer.open(row.secret_sealed, 'another-user')).toThrow();
  });

  it('is active only once confirmed with a code (computed by otpauth at the injected time); ten recovery codes shown once, digests at rest', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(ctx, user.id);
    await post(ctx, session, '/account/security/totp', {});
    const page = await app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    const secret = byId(page.body, 'code', 'totp-secret')!;
    secrets.push(secret);
    // Pending: the password alone still signs in.
    expect((await passwordStep(ctx, user)).r.headers.location).toBe('/');

    const wrong = await post(ctx, session, '/account/security/totp/confirm', { code: appCode(secret, t.clock, 3) });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('id="error-code"');
    expect((await lastEvent(t, 'mfa.enable'))?.outcome).toBe('failure');

    const ok = await post(ctx, session, '/account/security/totp/confirm', { code: appCode(secret, t.clock) });
    expect(ok.statusCode).toBe(200);
    const codes = recoveryCodesIn(ok.body);
    secrets.push(...codes);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
    const enabled = await lastEvent(t, 'mfa.enable');
    expect(enabled).toMatchObject({ outcome: 'success', target_user_id: user.id });

    const stored = await t.db.selectFrom('recovery_codes').selectAll().where('user_id', '=', user.id).execute();
    expect(stored).toHaveLength(10);
    const storedText = JSON.stringify(stored);
    for (const c of codes) {
      expect(storedText).not.toContain(c);
      expect(storedText).not.toContain(c.replace('-', ''));
    }
    // Shown once: the page no longer lists them.
    const later = await app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
    expect(recoveryCodesIn(later.body)).toEqual([]);
    expect(later.body).not.toContain('id="totp-secret"');
    expect(later.body).toContain('10 of 10 recovery codes left');
    // The code that confirmed is used up: it cannot also sign in.
    const step = await passwordStep(ctx, user);
    expect((await secondStep(ctx, step, appCode(secret, t.clock))).statusCode).toBe(401);
  });

  it('starting again while on changes nothing (409), the secret stays', async () => {
    const user = await makeUser(t);
    const { session, secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    const again = await post(ctx, session, '/account/security/totp', {});
    expect(again.statusCode).toBe(409);
    const row = await t.db.selectFrom('user_totp').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(deps.sealer.open(row.secret_sealed, user.id)).toBe(secret);
  });
});

describe('codes', () => {
  it('a code is accepted once: a replay in its window is refused, and of two racing uses exactly one wins', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    clock.advance(60);
    const code = appCode(secret, t.clock);
    const results = await Promise.all([acceptTotpCode(deps, user.id, code), acceptTotpCode(deps, user.id, code)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await acceptTotpCode(deps, user.id, code)).toBe(false);
    clock.advance(30);
    expect(await acceptTotpCode(deps, user.id, appCode(secret, t.clock))).toBe(true);
  });

  it('accepts one step of drift either way and refuses two', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    clock.advance(300);
    expect(await acceptTotpCode(deps, user.id, appCode(secret, t.clock, -2))).toBe(false);
    expect(await acceptTotpCode(deps, user.id, appCode(secret, t.clock, 2))).toBe(false);
    expect(await acceptTotpCode(deps, user.id, appCode(secret, t.clock, -1))).toBe(true);
    expect(await acceptTotpCode(deps, user.id, appCode(secret, t.clock, 1))).toBe(true);
  });
});

describe('sign-in with two-step on', () => {
  it('password → totp-form → code (with spaces) → signed in, back to return_to; success recorded only then', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    clock.advance(60);
    const successesBefore = (await eventsOf(t, 'signin.success')).filter((e) => e.target_user_id === user.id).length;
    const step = await passwordStep(ctx, user, '/account/apps');
    expect(step.r.statusCode).toBe(303);
    expect(step.r.headers.location).toBe('/login/totp');
    expect([step.r.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith('latch_session='))).toBe(false);
    expect(step.page.statusCode).toBe(200);
    expect(step.page.body).toContain('<form id="totp-form"');
    expect(step.page.body).toMatch(/<input id="code" name="code"/);
    // Not signed in yet.
    expect((await app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: step.cookie } })).statusCode).toBe(303);
    expect((await eventsOf(t, 'signin.success')).filter((e) => e.target_user_id === user.id)).toHaveLength(successesBefore);
    const pending = await t.db.selectFrom('pending_signins').selectAll().where('user_id', '=', user.id).execute();
    expect(pending).toHaveLength(1);
    expect(step.cookie).not.toContain(pending[0]!.id_digest);

    const code = appCode(secret, t.clock);
    const done = await secondStep(ctx, step, `${code.slice(0, 3)} ${code.slice(3)}`);
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe('/account/apps');
    const cookies = [done.headers['set-cookie'] ?? []].flat();
    expect(cookies.some((c) => c.startsWith('latch_session='))).toBe(true);
    expect(cookies.some((c) => /^latch_2fa=;/.test(c))).toBe(true);
    const success = await lastEvent(t, 'signin.success');
    expect(success).toMatchObject({ target_user_id: user.id, outcome: 'success' });
    expect(success!.details).toMatchObject({ second_factor: 'totp' });
    expect(await t.db.selectFrom('pending_signins').selectAll().where('user_id', '=', user.id).execute()).toHaveLength(0);
  });

  it('refuses a code of the wrong length with a clear message (400), counted as nothing', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    const step = await passwordStep(ctx, user);
    for (const bad of ['12345', '1234567', 'abc']) {
      const r = await secondStep(ctx, step, bad);
      expect(r.statusCode).toBe(400);
      expect(r.body).toContain('6-digit code');
    }
    expect(await t.db.selectFrom('login_attempts').select('key').where('key', '=', `2fa-user:${user.id}`).executeTakeFirst()).toBeUndefined();
  });

  it('a recovery code works once in place of the code', async () => {
    const user = await makeUser(t);
    const { secret, recoveryCodes } = await enrol(ctx, user.id);
    secrets.push(secret, ...recoveryCodes);
    const first = await passwordStep(ctx, user);
    const ok = await secondStep(ctx, first, recoveryCodes[3]!.toUpperCase());
    expect(ok.statusCode).toBe(303);
    const event = await lastEvent(t, 'signin.success');
    expect(event!.details).toMatchObject({ second_factor: 'recovery', backups_left: 9 });
    const again = await passwordStep(ctx, user);
    expect((await secondStep(ctx, again, recoveryCodes[3]!)).statusCode).toBe(401);
    expect((await lastEvent(t, 'signin.failure'))!.details).toMatchObject({ reason: 'wrong_code', method: 'recovery' });
    // Another one still works.
    expect((await secondStep(ctx, again, recoveryCodes[4]!)).statusCode).toBe(303);
  });

  it('one half-done sign-in gives one session, even to two good codes sent at once', async () => {
    const user = await makeUser(t);
    const { secret, recoveryCodes } = await enrol(ctx, user.id);
    secrets.push(secret, ...recoveryCodes);
    const step = await passwordStep(ctx, user);
    const results = await Promise.all([secondStep(ctx, step, recoveryCodes[0]!), secondStep(ctx, step, recoveryCodes[1]!)]);
    const signedIn = results.filter((r) => [r.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith('latch_session=')));
    expect(signedIn).toHaveLength(1);
  });

  it('wrong codes are throttled after the allowance (429 with Retry-After), per half-done sign-in and per account', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    clock.advance(60);
    const wrong = String((Number(appCode(secret, t.clock)) + 500_000) % 1_000_000).padStart(6, '0');
    const step = await passwordStep(ctx, user);
    for (let i = 0; i < SECOND_STEP_POLICY.pendingFreeFailures; i++) expect((await secondStep(ctx, step, wrong)).statusCode).toBe(401);
    const refused = await secondStep(ctx, step, appCode(secret, t.clock));
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many wrong codes');
    expect((await lastEvent(t, 'signin.failure'))!.details).toMatchObject({ reason: 'throttled' });

    // A fresh password step gets a fresh per-sign-in allowance, but the account's is shared.
    let status = 0;
    let tries = 0;
    while (status !== 429 && tries < 20) {
      const next = await passwordStep(ctx, user);
      for (let i = 0; i < 3 && status !== 429; i++, tries++) status = (await secondStep(ctx, next, wrong)).statusCode;
    }
    expect(status).toBe(429);
    expect(tries).toBe(SECOND_STEP_POLICY.accountFreeFailures - SECOND_STEP_POLICY.pendingFreeFailures + 1);
  });

  it('a half-done sign-in expires after five minutes; a forged or missing one leads back to the login page', async () => {
    const user = await makeUser(t);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    const step = await passwordStep(ctx, user);
    clock.advance(301);
    const late = await secondStep(ctx, step, appCode(secret, t.clock));
    expect(late.statusCode).toBe(303);
    expect(late.headers.location).toBe('/login');
    const forged = await app.inject({ method: 'GET', url: '/login/totp', headers: { cookie: 'latch_2fa=forged' } });
    expect(forged.statusCode).toBe(303);
    expect(forged.headers.location).toBe('/login');
  });

  it('a secret sealed under another LATCH_KEY_SECRET refuses codes (no 5xx); recovery codes still work', async () => {
    const user = await makeUser(t);
    const { secret, recoveryCodes } = await enrol(ctx, user.id);
    secrets.push(secret, ...recoveryCodes);
    const resealed = sealer('some-other-key-secret-0123456789abcdef', 'totp-secret').seal(secret, user.id);
    await t.db.updateTable('user_totp').set({ secret_sealed: resealed }).where('user_id', '=', user.id).execute();
    clock.advance(60);
    const step = await passwordStep(ctx, user);
    expect((await secondStep(ctx, step, appCode(secret, t.clock))).statusCode).toBe(401);
    expect((await secondStep(ctx, step, recoveryCodes[0]!)).statusCode).toBe(303);
  });

  it('the password grant is refused for an account with two-step on, by the shared sign-in', async () => {
    const user = await makeUser(t);
    const client = await makeClient(t);
    const plain = await makeUser(t);
    const ok = await app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: basic(client.client_id, client.secret) }, payload: { grant_type: 'password', username: plain.username, password: plain.password } });
    expect(ok.statusCode).toBe(200);
    const { secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    const r = await app.inject({ method: 'POST', url: '/oauth/token', headers: { authorization: basic(client.client_id, client.secret) }, payload: { grant_type: 'password', username: user.username, password: user.password } });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ error: 'invalid_grant', error_description: 'The password grant is not available for this account (two-step sign-in is on)' });
    const failure = await lastEvent(t, 'signin.failure');
    expect(failure).toMatchObject({ target_user_id: user.id, outcome: 'failure' });
    expect(failure!.details).toMatchObject({ reason: 'second_factor_required', via: client.client_id });
  });
});

describe('turning it off and changing the password', () => {
  it('disabling needs the password; then the password alone signs in again', async () => {
    const user = await makeUser(t);
    const { session, secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    const wrong = await post(ctx, session, '/account/security/totp/disable', { password: 'not the password' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('id="error-disable_password"');
    expect(await t.db.selectFrom('user_totp').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeDefined();
    expect((await lastEvent(t, 'mfa.disable'))).toMatchObject({ outcome: 'failure', target_user_id: user.id });

    const ok = await post(ctx, session, '/account/security/totp/disable', { password: user.password });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('Enable two-step sign-in');
    expect(await t.db.selectFrom('user_totp').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeUndefined();
    expect(await t.db.selectFrom('recovery_codes').select('user_id').where('user_id', '=', user.id).execute()).toHaveLength(0);
    expect((await lastEvent(t, 'mfa.disable'))).toMatchObject({ outcome: 'success', target_user_id: user.id });
    expect((await passwordStep(ctx, user)).r.headers.location).toBe('/');
  });

  it('changing the password: wrong current refused, weak new refused, success recorded and no other session ended', async () => {
    const user = await makeUser(t);
    const session = await signedInAs(ctx, user.id);
    const other = await signedInAs(ctx, user.id);
    const next = 'a brand new passphrase';
    secrets.push(next);

    const wrong = await post(ctx, session, '/account/security/password', { current_password: 'nope nope nope', new_password: next });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('id="error-current_password"');
    expect((await lastEvent(t, 'password.change'))).toMatchObject({ outcome: 'failure', target_user_id: user.id });

    const weak = await post(ctx, session, '/account/security/password', { current_password: user.password, new_password: 'short' });
    expect(weak.statusCode).toBe(400);
    expect(weak.body).toMatch(/id="error-new_password"[^>]*>The new password must be at least 10 characters/);
    const withName = await post(ctx, session, '/account/security/password', { current_password: user.password, new_password: `xx${user.username}xx` });
    expect(withName.statusCode).toBe(400);

    const ok = await post(ctx, session, '/account/security/password', { current_password: user.password, new_password: next });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('Your password is changed.');
    expect((await lastEvent(t, 'password.change'))).toMatchObject({ outcome: 'success', target_user_id: user.id });
    expect((await app.inject({ method: 'GET', url: '/account/apps', headers: { cookie: other.cookie } })).statusCode).toBe(200);
    expect((await passwordStep(ctx, { username: user.username, password: next })).r.headers.location).toBe('/');
    expect((await passwordStep(ctx, user)).r.statusCode).toBe(401);
  });

  it('every form refuses a POST without its CSRF token (403) and changes nothing', async () => {
    const user = await makeUser(t);
    const { session, secret } = await enrol(ctx, user.id);
    secrets.push(secret);
    for (const path of ['/account/security/totp', '/account/security/totp/confirm', '/account/security/totp/disable', '/account/security/password']) {
      const r = await post(ctx, session, path, { code: '123456', password: user.password, current_password: user.password, new_password: 'another good passphrase' }, false);
      expect(r.statusCode, path).toBe(403);
    }
    expect(await t.db.selectFrom('user_totp').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeDefined();
    const step = await passwordStep(ctx, user);
    const r = await secondStep(ctx, { cookie: step.cookie }, appCode(secret, t.clock, 1));
    expect(r.statusCode).toBe(403);
  });

  it('the page needs a signed-in user', async () => {
    const r = await app.inject({ method: 'GET', url: '/account/security' });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/login?return_to=%2Faccount%2Fsecurity');
  });
});

describe('logs', () => {
  it('carry no TOTP secret, recovery code or password from any of the above', () => {
    expect(secrets.length).toBeGreaterThan(10);
    const everything = logs + audit.raw.join('\n');
    expect(everything.length).toBeGreaterThan(0);
    for (const s of secrets) {
      expect(everything).not.toContain(s);
    }
  });
});
