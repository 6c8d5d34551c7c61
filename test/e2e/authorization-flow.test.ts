import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startCallbackServer } from '../helpers/callback.js';
import { ARTIFACTS, CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const OOB = 'urn:ietf:wg:oauth:2.0:oob';

describe('the authorization-code flow in headless Chromium against the real server', () => {
  let env: NodeJS.ProcessEnv;
  let store: ServerStore | undefined;
  let server: RunningServer;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let config: oauth.Configuration;
  let clientId: string;
  let clientSecret: string;
  let redirectUri: string;
  /** The access token the first flow obtained; revoking the app must end it. */
  let firstAccessToken: string;

  const latch = (args: string[], input?: string) => latchJson(env, args, input);

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    // On PostgreSQL the CLI and the server share this file's own database; on
    // PGlite they share a data directory, which only one process may hold, so
    // the CLI runs before the server starts, in both cases alike.
    store = await serverStore();
    env = store.env;
    env = { ...env, PORT: String(port), LATCH_ISSUER: issuer };

    callback = await startCallbackServer();
    redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    latch(['user', 'create', '--username', 'alice', '--password-stdin'], 'wonderland e2e pw\n');
    // Registered without a port: a native app's loopback listener may get any (RFC 8252 §7.3).
    const created = latch(['client', 'create', '--name', 'E2E Photo App', '--redirect-uri', 'http://127.0.0.1/callback', '--redirect-uri', OOB, '--scope', 'read write', '--owner', 'alice']);
    clientId = created.client_id;
    clientSecret = created.client_secret;

    server = await startServer(env);
    config = await oauth.discovery(new URL(issuer), clientId, clientSecret, undefined, {
      algorithm: 'oauth2',
      execute: [oauth.allowInsecureRequests],
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    page = await context.newPage();
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    if (server) {
      const { code } = await server.stop('SIGTERM');
      expect(code).toBe(0);
    }
    await callback?.close();
    await store?.dispose();
  });

  it('signs in, approves, lands on the callback and exchanges the code with openid-client (PKCE S256, iss checked)', async () => {
    expect(config.serverMetadata().authorization_response_iss_parameter_supported).toBe(true);
    const verifier = oauth.randomPKCECodeVerifier();
    const state = oauth.randomState();
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'read',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });

    await page.goto(url.href);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.locator('#login-form').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'login.png'), fullPage: true });

    // A wrong password first: the generic message, still on the login page.
    await page.fill('#login-form input[name="username"]', 'alice');
    await page.fill('#login-form input[name="password"]', 'not-her-password');
    await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
    expect(await page.textContent('#login-error')).toBe('The username or password is incorrect.');

    await page.fill('#login-form input[name="password"]', 'wonderland e2e pw');
    await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
    await page.locator('#consent-form').waitFor();
    expect(await page.textContent('h1')).toContain('E2E Photo App');
    expect(await page.textContent('.app-owner')).toBe('alice');
    expect(await page.locator('#requested-scopes li').count()).toBe(1);
    expect(await page.textContent('#requested-scopes')).toContain('See your account and the data in it');
    await page.screenshot({ path: join(ARTIFACTS, 'consent.png'), fullPage: true });

    await Promise.all([page.waitForURL(`${redirectUri}?**`), page.click('#consent-form button[value="allow"]')]);
    expect(await page.textContent('#callback')).toBe('received');
    const landed = new URL(page.url());
    expect(landed.searchParams.get('state')).toBe(state);
    expect(landed.searchParams.get('iss')).toBe(config.serverMetadata().issuer);
    expect(callback.hits.filter((h) => h.pathname === '/callback').at(-1)?.searchParams.get('code')).toBe(landed.searchParams.get('code'));

    const tokens = await oauth.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.access_token).toMatch(/^latch_at_/);
    expect(tokens.refresh_token).toMatch(/^latch_rt_/);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('read');
    const me = await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ username: 'alice' });
    firstAccessToken = tokens.access_token;

    // The same code a second time is refused.
    await expect(oauth.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a remembered consent skips the page; more scopes ask again, and Deny lands on the callback with access_denied', async () => {
    const state = oauth.randomState();
    const verifier = oauth.randomPKCECodeVerifier();
    const challenge = await oauth.calculatePKCECodeChallenge(verifier);
    const same = oauth.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'read', state, code_challenge: challenge, code_challenge_method: 'S256' });
    await page.goto(same.href);
    expect(new URL(page.url()).searchParams.get('code')).toMatch(/^latch_ac_/);

    const more = oauth.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'read write', state, code_challenge: challenge, code_challenge_method: 'S256' });
    await page.goto(more.href);
    await page.locator('#consent-form').waitFor();
    await Promise.all([page.waitForURL(`${redirectUri}?**`), page.click('#consent-form button[value="deny"]')]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get('error')).toBe('access_denied');
    expect(landed.searchParams.get('state')).toBe(state);
    expect(landed.searchParams.get('iss')).toBe(config.serverMetadata().issuer);
    expect(landed.searchParams.get('code')).toBeNull();
    // openid-client reads it as the authorization error it is.
    await expect(oauth.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('out of band: the code is shown on a page, and works at the token endpoint with the verifier', async () => {
    const verifier = oauth.randomPKCECodeVerifier();
    const fresh = await browser.newContext();
    try {
      const p = await fresh.newPage();
      const url = oauth.buildAuthorizationUrl(config, {
        redirect_uri: OOB,
        scope: 'write',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      await p.goto(url.href);
      await p.fill('#login-form input[name="username"]', 'alice');
      await p.fill('#login-form input[name="password"]', 'wonderland e2e pw');
      await Promise.all([p.waitForNavigation(), p.click('#login-form button[type="submit"]')]);
      await Promise.all([p.waitForNavigation(), p.click('#consent-form button[value="allow"]')]);
      const code = (await p.textContent('#authorization-code'))!;
      expect(code).toMatch(/^latch_ac_/);
      expect(new URL(p.url()).pathname).toBe('/oauth/authorize');
      await p.screenshot({ path: join(ARTIFACTS, 'oob.png'), fullPage: true });

      // What a user of a command-line app does with it: paste it into a token request.
      const r = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: OOB, code_verifier: verifier }),
      });
      expect(r.status).toBe(200);
      const body = await r.json();
      expect(body.access_token).toMatch(/^latch_at_/);
      expect(body.scope).toBe('write');
    } finally {
      await fresh.close();
    }
  });

  it('the authorized apps page lists the app, and revoking it from the browser ends its tokens', async () => {
    await page.goto(`${server.url}/account/apps`);
    const app = page.locator(`li.app[data-client-id="${clientId}"]`);
    expect(await app.locator('.app-name').textContent()).toBe('E2E Photo App');
    await Promise.all([page.waitForNavigation(), app.locator('button.danger').click()]);
    expect(new URL(page.url()).pathname).toBe('/account/apps');
    expect(await page.locator('#no-apps').count()).toBe(1);
    expect(firstAccessToken).toMatch(/^latch_at_/);
    const me = await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${firstAccessToken}` } });
    expect(me.status).toBe(401);
  });
});
