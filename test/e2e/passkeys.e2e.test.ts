import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as client from 'openid-client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startCallbackServer } from '../helpers/callback.js';
import { CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const DOCS = join(process.cwd(), 'docs');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const USERNAME = 'paula';
const PASSWORD = 'passkey e2e password';

async function click(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

/**
 * Browsers refuse an IP address as a WebAuthn RP ID, so this server's issuer
 * is http://localhost:PORT. Chromium's virtual authenticator (CDP) stands in
 * for a platform authenticator with a resident key and user verification.
 */
describe('passkeys in headless Chromium with a virtual authenticator, against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer | undefined;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let browser: Browser;
  let issuer: string;
  let config: client.Configuration;
  let redirectUri: string;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), HOST: '127.0.0.1', LATCH_ISSUER: issuer, LATCH_SITE_NAME: 'Acme' };
    callback = await startCallbackServer();
    redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    // The CLI runs before the server: on PGlite only one process may hold the data directory.
    latchJson(env, ['user', 'create', '--username', USERNAME, '--password-stdin'], `${PASSWORD}\n`);
    const created = latchJson(env, ['client', 'create', '--name', 'Passkey RP', '--redirect-uri', 'http://127.0.0.1/callback', '--scope', 'read']);
    server = await startServer(env);
    config = await client.discovery(new URL(issuer), created.client_id, created.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    if (server) expect((await server.stop('SIGTERM')).code).toBe(0);
    await callback?.close();
    await store?.dispose();
  }, PROCESS_TEST_MS);

  it('adds a passkey on /account/security, signs out, signs in with it from an OIDC request: the ID token says hwk', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    try {
      await page.goto(`${issuer}/login`);
      await page.fill('#login-form input[name="username"]', USERNAME);
      await page.fill('#login-form input[name="password"]', PASSWORD);
      await click(page, '#login-form button[type="submit"]');
      await page.goto(`${issuer}/account/security`);
      await page.locator('#add-passkey').waitFor({ state: 'visible' });
      expect(await page.isHidden('#passkey-no-js')).toBe(true);
      await page.fill('#passkey-name', 'This laptop');
      await click(page, '#add-passkey');
      expect(new URL(page.url()).pathname).toBe('/account/security');
      expect(await page.inputValue('#passkey-list input[name="name"]')).toBe('This laptop');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]!.isResidentCredential).toBe(true);
      await page.locator('#passkeys').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(DOCS, 'passkeys.png'), fullPage: true });
      await page.setViewportSize(PHONE);
      await page.screenshot({ path: join(DOCS, 'passkeys-phone.png'), fullPage: true });
      await page.setViewportSize(DESKTOP);

      await click(page, 'form[action="/logout"] button[type="submit"]');
      expect(await page.textContent('main')).not.toContain(`Signed in as ${USERNAME}`);

      // An app asks for a sign-in: the passkey button signs in without username or password, then back to the app.
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile read',
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      await page.goto(url.href);
      await page.locator('#passkey-signin').waitFor({ state: 'visible' });
      await page.screenshot({ path: join(DOCS, 'login-passkey.png'), fullPage: true });
      await click(page, '#passkey-signin');
      await page.locator('#consent-form').waitFor();
      await Promise.all([page.waitForURL(`${redirectUri}?**`), page.click('#consent-form button[value="allow"]')]);
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true });
      const claims = tokens.claims()!;
      expect(claims.preferred_username).toBe(USERNAME);
      expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
      expect(typeof claims.auth_time).toBe('number');

      await page.goto(`${issuer}/`);
      expect(await page.textContent('main')).toContain(`Signed in as ${USERNAME}`);
      const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(after.credentials[0]!.signCount).toBeGreaterThan(0);
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  }, PROCESS_TEST_MS);
});
