import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, PROCESS_TEST_MS, runLatch, startServer, serverStore } from '../helpers/server.js';
import { pkce } from '../helpers/pkce.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1024, height: 800 };
const PHONE = { width: 390, height: 844 };

/**
 * A real confidential client app on loopback, configured only with what the
 * developer copied from the console: /start sends the browser to latch with
 * state and PKCE; /callback exchanges the code with the client secret and
 * greets the user by the name /oauth/userinfo gives.
 */
async function startClientApp(issuer: string) {
  const credentials = { clientId: '', clientSecret: '' };
  const pending = new Map<string, string>();
  let port = 0;
  const redirectUri = () => `http://127.0.0.1:${port}/callback`;
  const page = (body: string) => `<!doctype html><meta charset="utf-8"><title>Client app</title>${body}`;
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    try {
      if (url.pathname === '/start') {
        const state = randomBytes(16).toString('base64url');
        const { verifier, challenge } = pkce();
        pending.set(state, verifier);
        const q = new URLSearchParams({
          response_type: 'code',
          client_id: credentials.clientId,
          redirect_uri: redirectUri(),
          scope: 'read',
          state,
          code_challenge: challenge,
          code_challenge_method: 'S256',
        });
        res.writeHead(302, { location: `${issuer}/oauth/authorize?${q}` }).end();
        return;
      }
      if (url.pathname === '/callback') {
        const verifier = pending.get(url.searchParams.get('state') ?? '');
        if (!verifier) throw new Error(`unexpected state; error=${url.searchParams.get('error')}`);
        pending.delete(url.searchParams.get('state')!);
        const basic = Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`).toString('base64');
        const tokenResponse = await fetch(`${issuer}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
          body: new URLSearchParams({ grant_type: 'authorization_code', code: url.searchParams.get('code') ?? '', redirect_uri: redirectUri(), code_verifier: verifier }),
        });
        const tokens = (await tokenResponse.json()) as { access_token?: string; error?: string };
        if (!tokens.access_token) throw new Error(`token endpoint said ${tokenResponse.status} ${tokens.error}`);
        const me = (await (await fetch(`${issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json()) as { username: string };
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(`<p id="hello">Hello, ${me.username}</p>`));
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' }).end(page(`<p id="client-error">${(err as Error).message}</p>`));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    credentials,
    redirectUri,
    startUrl: () => `http://127.0.0.1:${port}/start`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One latch server of this file's own, on PostgreSQL or on a PGlite data directory. */
async function startLatch(extraEnv: NodeJS.ProcessEnv, beforeStart: (latch: (args: string[], input?: string) => unknown) => void = () => {}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const store = await serverStore();
  const env: NodeJS.ProcessEnv = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, ...extraEnv };
  // On PGlite only one process may hold the data directory: the CLI runs before the server.
  beforeStart((args, input) => {
    const r = runLatch([...args, '--json'], { ...env, LOG_LEVEL: 'silent' }, input);
    if (r.status !== 0) throw new Error(`bin/latch ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  });
  // debug: one log line per request (latch's request lines are at debug), so the no-secrets check below sees every URL.
  const server = await startServer({ ...env, LOG_LEVEL: 'debug' });
  return {
    issuer,
    server,
    stop: async () => {
      const { code } = await server.stop('SIGTERM');
      await store.dispose();
      return code;
    },
  };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

async function click(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

/** The developer's part, the same in both modes: sign up, register an app, copy its credentials off the page. */
async function signUpAndRegister(page: Page, issuer: string, username: string, redirectUri: string, shots: boolean) {
  // From the home page, as a newcomer finds it.
  await page.goto(issuer);
  await click(page, '#signup-link');
  expect(new URL(page.url()).pathname).toBe('/signup');
  if (shots) await shot(page, 'signup.png');
  await page.fill('#signup-form input[name="username"]', username);
  await page.fill('#signup-form input[name="email"]', `${username}@example.com`);
  await page.fill('#signup-form input[name="password"]', 'short');
  await click(page, '#signup-form button[type="submit"]');
  expect(await page.textContent('#error-password')).toContain('at least 10 characters');
  // The username typed is still there.
  expect(await page.inputValue('#signup-form input[name="username"]')).toBe(username);
  await page.fill('#signup-form input[name="password"]', 'correct horse battery staple');
  await click(page, '#signup-form button[type="submit"]');
  expect(new URL(page.url()).pathname).toBe('/apps');
  expect(await page.textContent('.console-nav')).toContain(username);

  await click(page, '#new-app');
  await page.fill('#name', 'Photo Sync');
  await page.fill('#description', 'Backs up your photos every night.');
  await page.fill('#website', 'https://photosync.example');
  // A plain-http public host first: refused beside the field, with the input kept.
  await page.fill('#redirect_uris', 'http://photosync.example/callback');
  await click(page, '#app-form button[type="submit"]');
  expect(await page.textContent('#error-redirect_uris')).toContain('must use https');
  expect(await page.inputValue('#name')).toBe('Photo Sync');
  if (shots) await shot(page, 'new-app-errors.png');
  await page.fill('#redirect_uris', `${redirectUri}\nhttps://photosync.example/callback`);
  if (shots) await shot(page, 'new-app.png');
  await click(page, '#app-form button[type="submit"]');

  const clientId = (await page.textContent('#client-id'))!.trim();
  const clientSecret = (await page.textContent('#client-secret'))!.trim();
  expect(clientId).toMatch(/^[0-9a-f]{32}$/);
  expect(clientSecret).toMatch(/^latch_cs_/);
  expect(await page.textContent('#shown-once')).toContain('shown only now');
  if (shots) await shot(page, 'credentials.png');
  await click(page, '#continue');
  expect(await page.textContent('#client-id')).toBe(clientId);
  // The secret is not on the app's page any more.
  expect(await page.content()).not.toContain(clientSecret);
  return { clientId, clientSecret };
}

let browser: Browser;
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, PROCESS_TEST_MS);
afterAll(async () => {
  await browser?.close();
});

describe('a newcomer, entirely in the browser (LATCH_SIGNUP=open, automatic approval)', () => {
  let latch: Awaited<ReturnType<typeof startLatch>>;
  let client: Awaited<ReturnType<typeof startClientApp>>;
  beforeAll(async () => {
    latch = await startLatch({ LATCH_SIGNUP: 'open' });
    client = await startClientApp(latch.issuer);
  }, PROCESS_TEST_MS);
  afterAll(async () => {
    await client?.close();
    if (latch) expect(await latch.stop()).toBe(0);
  });

  it('signs up, registers an app, copies its credentials from the page, and completes an authorization-code flow with them', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    try {
      const creds = await signUpAndRegister(page, latch.issuer, 'dana', client.redirectUri(), true);
      expect(await page.textContent('#app-name')).toContain('active');
      await shot(page, 'app.png');
      client.credentials.clientId = creds.clientId;
      client.credentials.clientSecret = creds.clientSecret;

      // The developer tries the app as its first user: consent, then back to the app, which got tokens.
      await page.goto(client.startUrl());
      await page.locator('#consent-form').waitFor();
      expect(await page.textContent('h1')).toContain('Photo Sync');
      await click(page, '#consent-form button[value="allow"]');
      expect(await page.textContent('#hello')).toBe('Hello, dana');

      // The console counts the authorization, and makes a test token that works as a bearer token.
      await page.goto(`${latch.issuer}/apps/${creds.clientId}`);
      expect(await page.textContent('#authorized-users')).toBe('1');
      await page.fill('#token-label', 'curl tests');
      await page.selectOption('#token-ttl', '86400');
      await click(page, '#token-form button[type="submit"]');
      const pat = (await page.textContent('#personal-token'))!.trim();
      expect(pat).toMatch(/^latch_pat_/);
      const me = await fetch(`${latch.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${pat}` } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ username: 'dana' });
      await shot(page, 'test-token.png');

      await page.goto(`${latch.issuer}/apps`);
      await shot(page, 'console.png');
      await page.setViewportSize(PHONE);
      await page.goto(`${latch.issuer}/apps/${creds.clientId}`);
      await shot(page, 'app-phone.png');
      // Readable on a phone: nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);

      // The server logged every request above, and none of the secrets it handed out.
      const log = latch.server.output();
      expect(log).toContain('/apps');
      for (const secret of [creds.clientSecret, pat, 'correct horse battery staple']) expect(log).not.toContain(secret);
      expect(log).not.toMatch(/latch_(cs|pat|at|rt|ac|ss)_/);
    } finally {
      await context.close();
    }
  });
});

describe('an administrator approves a pending app (LATCH_APP_APPROVAL=manual)', () => {
  let latch: Awaited<ReturnType<typeof startLatch>>;
  let client: Awaited<ReturnType<typeof startClientApp>>;
  beforeAll(async () => {
    latch = await startLatch({ LATCH_SIGNUP: 'open', LATCH_APP_APPROVAL: 'manual' }, (cli) => {
      cli(['user', 'create', '--username', 'root', '--password-stdin', '--admin'], 'the admin password\n');
    });
    client = await startClientApp(latch.issuer);
  }, PROCESS_TEST_MS);
  afterAll(async () => {
    await client?.close();
    if (latch) expect(await latch.stop()).toBe(0);
  });

  it('the app cannot be used while pending; once approved in /admin/apps the flow works', async () => {
    const dev = await browser.newContext({ viewport: DESKTOP });
    const admin = await browser.newContext({ viewport: DESKTOP });
    try {
      const devPage = await dev.newPage();
      const creds = await signUpAndRegister(devPage, latch.issuer, 'erin', client.redirectUri(), false);
      expect(await devPage.textContent('#status-note')).toContain('Waiting for an administrator');
      client.credentials.clientId = creds.clientId;
      client.credentials.clientSecret = creds.clientSecret;

      // Pending: an error page at /oauth/authorize, and the client app is never called back.
      const refused = await devPage.goto(client.startUrl());
      expect(refused!.status()).toBe(400);
      expect(await devPage.textContent('#error-code')).toBe('invalid_application_status');
      expect(new URL(devPage.url()).pathname).toBe('/oauth/authorize');
      await shot(devPage, 'pending-authorize.png');

      const adminPage = await admin.newPage();
      await adminPage.goto(`${latch.issuer}/admin/apps`);
      expect(new URL(adminPage.url()).pathname).toBe('/login');
      await adminPage.fill('#login-form input[name="username"]', 'root');
      await adminPage.fill('#login-form input[name="password"]', 'the admin password');
      await click(adminPage, '#login-form button[type="submit"]');
      expect(new URL(adminPage.url()).pathname).toBe('/admin/apps');
      const row = adminPage.locator(`#pending #app-${creds.clientId}`);
      expect(await row.textContent()).toContain('erin');
      await shot(adminPage, 'admin.png');
      await click(adminPage, `#app-${creds.clientId} .decision-approve button`);
      expect(await adminPage.locator(`#active #app-${creds.clientId}`).count()).toBe(1);
      await shot(adminPage, 'admin-approved.png');

      await devPage.goto(`${latch.issuer}/apps/${creds.clientId}`);
      expect(await devPage.textContent('#decisions')).toContain('approve by root');
      await devPage.goto(client.startUrl());
      await devPage.locator('#consent-form').waitFor();
      await click(devPage, '#consent-form button[value="allow"]');
      expect(await devPage.textContent('#hello')).toBe('Hello, erin');
    } finally {
      await dev.close();
      await admin.close();
    }
  });
});
