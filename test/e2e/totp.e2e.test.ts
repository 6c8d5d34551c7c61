import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, PROCESS_TEST_MS, runLatch, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const DOCS = join(process.cwd(), 'docs');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const USERNAME = 'alice';
const PASSWORD = 'wonderland e2e pw';

/**
 * The code an authenticator app would show, by an independent TOTP
 * implementation. `ahead` steps into the future: the server accepts one step
 * of drift, and a later step than the last one used, so the test never waits
 * for the clock.
 */
const appCode = (secret: string, ahead = 0) => OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: Date.now() + ahead * 30_000 });

async function click(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function signInWithPassword(page: Page, issuer: string) {
  await page.goto(`${issuer}/login`);
  await page.fill('#login-form input[name="username"]', USERNAME);
  await page.fill('#login-form input[name="password"]', PASSWORD);
  await click(page, '#login-form button[type="submit"]');
}

describe('two-step sign-in in headless Chromium against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer | undefined;
  let browser: Browser;
  let issuer: string;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, LATCH_SITE_NAME: 'Acme' };
    // The CLI runs before the server: on PGlite only one process may hold the data directory.
    const r = runLatch(['user', 'create', '--username', USERNAME, '--password-stdin', '--json'], { ...env, LOG_LEVEL: 'silent' }, `${PASSWORD}\n`);
    if (r.status !== 0) throw new Error(`bin/latch user create failed: ${r.stderr}`);
    server = await startServer(env);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    if (server) expect((await server.stop('SIGTERM')).code).toBe(0);
    await store?.dispose();
  }, PROCESS_TEST_MS);

  it('enables TOTP reading the secret off the page, then signs in with password and code', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    try {
      await signInWithPassword(page, issuer);
      await click(page, '#security-link');
      expect(new URL(page.url()).pathname).toBe('/account/security');
      await click(page, '#totp-start');
      const secret = (await page.textContent('#totp-secret'))!.trim();
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(await page.textContent('#totp-uri')).toContain(`otpauth://totp/Acme:${USERNAME}?secret=${secret}`);
      const qr = await page.locator('#totp-qr svg').boundingBox();
      expect(qr!.width).toBeGreaterThan(100);
      await page.screenshot({ path: join(DOCS, 'security.png'), fullPage: true });
      await page.setViewportSize(PHONE);
      await page.screenshot({ path: join(DOCS, 'security-phone.png'), fullPage: true });
      await page.setViewportSize(DESKTOP);

      const code = appCode(secret);
      await page.fill('#totp-enroll-form input[name="code"]', `${code.slice(0, 3)} ${code.slice(3)}`);
      await click(page, '#totp-enroll-form button[type="submit"]');
      const recovery = await page.locator('#recovery-codes li').allTextContents();
      expect(recovery).toHaveLength(10);
      expect(await page.textContent('#totp-status')).toContain('on');

      await click(page, 'form[action="/logout"] button[type="submit"]');
      await signInWithPassword(page, issuer);
      expect(new URL(page.url()).pathname).toBe('/login/totp');
      expect(await page.locator('#totp-form input[name="code"]').count()).toBe(1);
      await page.screenshot({ path: join(DOCS, 'totp-form.png'), fullPage: true });
      await page.setViewportSize(PHONE);
      await page.screenshot({ path: join(DOCS, 'totp-form-phone.png'), fullPage: true });

      // A wrong code first: a clear message, still on the form.
      await page.fill('#totp-form input[name="code"]', '12345');
      await click(page, '#totp-form button[type="submit"]');
      expect(await page.textContent('#totp-error')).toContain('6-digit code');

      // The enrolment used this step's code: the next step's is accepted (one step of drift).
      await page.fill('#totp-form input[name="code"]', appCode(secret, 1));
      await click(page, '#totp-form button[type="submit"]');
      expect(new URL(page.url()).pathname).toBe('/');
      expect(await page.textContent('main')).toContain(`Signed in as ${USERNAME}`);
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  }, PROCESS_TEST_MS);
});
