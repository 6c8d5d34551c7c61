import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { chromium, type Browser } from 'playwright-core';
import { ARTIFACTS, CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const PASSWORD = 'device e2e password';
/** Polling waits real seconds (RFC 8628's interval); the user's part may be slow on a busy machine. */
const POLL_DEADLINE_MS = 180_000;

/**
 * RFC 8628 end to end: oauth4webapi (a client library written elsewhere) asks
 * for a device code and polls, while a person (headless Chromium) opens the
 * verification link, confirms the code, signs in and allows.
 */
describe('the device authorization grant with oauth4webapi and headless Chromium against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer;
  let browser: Browser;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    // Debug level: the access log line of every request is written, so the test below can look for codes in it.
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, LOG_LEVEL: 'debug' };
    latchJson(env, ['user', 'create', '--username', 'tess', '--password-stdin'], `${PASSWORD}\n`);
    const created = latchJson(env, ['client', 'create', '--name', 'E2E Terminal', '--public', '--grant-types', 'device_code,refresh_token', '--scope', 'read write']);
    expect(created.grant_types).toEqual(['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
    client = { client_id: created.client_id, token_endpoint_auth_method: 'none' };

    server = await startServer(env);
    const discovered = await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
    as = await oauth.processDiscoveryResponse(new URL(issuer), discovered);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    if (server) {
      const { code } = await server.stop('SIGTERM');
      expect(code).toBe(0);
    }
    await store?.dispose();
  });

  const poll = async (deviceCode: string) =>
    oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, oauth.None(), deviceCode, { [oauth.allowInsecureRequests]: true }));

  it('pending until the user allows in the browser; then the library\'s polling gets tokens, once', async () => {
    expect(as.device_authorization_endpoint).toBe(`${as.issuer}/oauth/device_authorization`);
    const started = await oauth.processDeviceAuthorizationResponse(
      as,
      client,
      await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: 'read' }, { [oauth.allowInsecureRequests]: true }),
    );
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri).toBe(`${as.issuer}/device`);
    expect(started.interval).toBe(5);
    expect(started.expires_in).toBe(600);
    await expect(poll(started.device_code)).rejects.toMatchObject({ error: 'authorization_pending' });
    let lastPoll = Date.now();

    // The user's part.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const page = await context.newPage();
      await page.goto(started.verification_uri_complete!);
      await page.locator('#device-form').waitFor();
      // Prefilled, but nothing happens until the user confirms it (RFC 8628 §5.4).
      expect(await page.inputValue('#device-form input[name="user_code"]')).toBe(started.user_code);
      await page.screenshot({ path: join(ARTIFACTS, 'device-code.png'), fullPage: true });
      await Promise.all([page.waitForURL('**/login?**'), page.click('#device-form button[type="submit"]')]);
      await page.fill('#login-form input[name="username"]', 'tess');
      await page.fill('#login-form input[name="password"]', PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
      await page.locator('#consent-form').waitFor();
      expect(await page.textContent('h1')).toContain('E2E Terminal');
      expect(await page.textContent('#device-user-code')).toBe(started.user_code);
      expect(await page.locator('#requested-scopes li').count()).toBe(1);
      await page.screenshot({ path: join(ARTIFACTS, 'device-consent.png'), fullPage: true });
      await Promise.all([page.waitForNavigation(), page.click('#consent-form button[value="allow"]')]);
      await page.locator('#device-done').waitFor();
      expect(await page.getAttribute('#device-done', 'data-decision')).toBe('allow');
      await page.screenshot({ path: join(ARTIFACTS, 'device-done.png'), fullPage: true });
    } finally {
      await context.close();
    }

    // The device's part: poll as RFC 8628 §3.5 says, slowing down when told.
    let interval = started.interval! * 1000;
    const deadline = Date.now() + POLL_DEADLINE_MS;
    let tokens: oauth.TokenEndpointResponse | undefined;
    const seen: string[] = [];
    while (!tokens) {
      if (Date.now() > deadline) throw new Error(`no tokens within ${POLL_DEADLINE_MS / 1000} s; polls answered: ${seen.join(', ')}; server printed:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastPoll + interval + 100 - Date.now())));
      lastPoll = Date.now();
      try {
        tokens = await poll(started.device_code);
      } catch (err) {
        if (!(err instanceof oauth.ResponseBodyError)) throw err;
        seen.push(err.error);
        if (err.error === 'slow_down') interval += 5000;
        else if (err.error !== 'authorization_pending') throw err;
      }
    }
    expect(tokens.access_token).toMatch(/^latch_at_/);
    expect(tokens.refresh_token).toMatch(/^latch_rt_/);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('read');
    const me = await fetch(`${server.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await me.json()).toMatchObject({ username: 'tess' });

    // The same device code again: spent.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastPoll + interval + 100 - Date.now())));
    await expect(poll(started.device_code)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Nothing of either code reached the server's log, though every request was logged.
    const log = server.output();
    expect(log).toContain('/device');
    expect(log).not.toContain(started.device_code);
    expect(log).not.toContain(started.user_code);
    expect(log).not.toContain(started.user_code.replace('-', ''));
  }, PROCESS_TEST_MS);
});
