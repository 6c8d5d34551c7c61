import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort, PROCESS_TEST_MS, runLatch, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const DOCS = join(process.cwd(), 'docs');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = 'wonderland e2e pw';
const NEW_PASSWORD = 'through the looking glass';
const USERS = { alice: 'alice@acme.test', bob: 'bob@acme.test', carol: 'carol@acme.test' } as const;

async function click(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function signIn(page: Page, issuer: string, username: string, password: string) {
  await page.goto(`${issuer}/login`);
  await page.fill('#login-form input[name="username"]', username);
  await page.fill('#login-form input[name="password"]', password);
  await click(page, '#login-form button[type="submit"]');
}

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: join(DOCS, `${name}.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(DOCS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

/** Asks for a reset on the page and returns how long the answer took (ms). */
async function askForReset(page: Page, issuer: string, email: string): Promise<number> {
  await page.goto(`${issuer}/forgot-password`);
  await page.fill('#forgot-form input[name="email"]', email);
  const started = Date.now();
  await click(page, '#forgot-form button[type="submit"]');
  const took = Date.now() - started;
  expect(await page.textContent('#forgot-notice')).toContain('If an account has that e-mail address');
  return took;
}

describe('password reset by e-mail in headless Chromium, against the real server and a real SMTP server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer | undefined;
  let smtp: TestSmtpServer;
  let browser: Browser;
  let issuer: string;
  const contexts: BrowserContext[] = [];
  const newPage = async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    contexts.push(context);
    return context.newPage();
  };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, LATCH_SITE_NAME: 'Acme', LATCH_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, LATCH_MAIL_FROM: 'Acme <auth@acme.test>' };
    // The CLI runs before the server: on PGlite only one process may hold the data directory.
    for (const [username, email] of Object.entries(USERS)) {
      const r = runLatch(['user', 'create', '--username', username, '--email', email, '--password-stdin', '--json'], { ...env, LOG_LEVEL: 'silent' }, `${PASSWORD}\n`);
      if (r.status !== 0) throw new Error(`bin/latch user create failed: ${r.stderr}`);
    }
    server = await startServer(env);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    if (server) expect((await server.stop('SIGTERM')).code).toBe(0);
    await smtp?.close();
    await store?.dispose();
  }, PROCESS_TEST_MS);

  it('requests a reset, follows the mailed link, sets a new password, signs in with it; the old session has ended', async () => {
    // A session from before the reset, on another "device".
    const old = await newPage();
    await signIn(old, issuer, 'alice', PASSWORD);
    await old.goto(`${issuer}/account/security`);
    expect(new URL(old.url()).pathname).toBe('/account/security');

    const page = await newPage();
    await page.goto(`${issuer}/login`);
    await click(page, '#forgot-link');
    expect(new URL(page.url()).pathname).toBe('/forgot-password');
    await shoot(page, 'forgot-password');
    await askForReset(page, issuer, USERS.alice);

    const [mail] = await smtp.waitFor(1);
    expect(mail!.to).toEqual([USERS.alice]);
    expect(mail!.headers.subject).toBe('Reset your Acme password');
    const link = /https?:\/\/\S+\/reset-password\?token=[A-Za-z0-9_-]+/.exec(mail!.text)![0];
    expect(mail!.html).toContain(link);
    expect(new URL(link).origin).toBe(issuer);

    await page.goto(link);
    expect(await page.textContent('#reset-username')).toBe('alice');
    await shoot(page, 'reset-password');
    await page.fill('#reset-form input[name="password"]', NEW_PASSWORD);
    await click(page, '#reset-form button[type="submit"]');
    expect(await page.textContent('#reset-done')).toContain('Your password is changed');

    // The link worked once.
    await page.goto(link);
    expect(await page.textContent('#reset-problem')).toContain('already been used');

    // The old session has ended: the security page sends it to the login page.
    await old.goto(`${issuer}/account/security`);
    expect(new URL(old.url()).pathname).toBe('/login');

    // The old password no longer works; the new one does.
    await signIn(page, issuer, 'alice', PASSWORD);
    expect(await page.textContent('#login-error')).toContain('incorrect');
    await signIn(page, issuer, 'alice', NEW_PASSWORD);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.textContent('main')).toContain('Signed in as alice');

    // Two sessions now: the list shows both, and "sign out everywhere else" ends the other.
    await signIn(old, issuer, 'alice', NEW_PASSWORD);
    await page.goto(`${issuer}/account/security`);
    expect(await page.locator('#session-list li').count()).toBe(2);
    await page.locator('#sessions').scrollIntoViewIfNeeded();
    await shoot(page, 'security-sessions');
    await click(page, '#sessions-end-others-form button[type="submit"]');
    expect(await page.textContent('#security-notice')).toBe('One other session is signed out.');
    expect(await page.locator('#session-list li').count()).toBe(1);
    await old.goto(`${issuer}/account/security`);
    expect(new URL(old.url()).pathname).toBe('/login');
  }, PROCESS_TEST_MS);

  it('a mail server that takes the message and never answers does not slow /forgot-password', async () => {
    const page = await newPage();
    smtp.stall = true;
    await askForReset(page, issuer, USERS.bob);
    // The sender is now stuck on bob's mail, for up to its send timeout (30 s).
    await smtp.waitForStall();
    const took = await askForReset(page, issuer, USERS.carol);
    expect(took).toBeLessThan(5000);
    smtp.stall = false;
  }, PROCESS_TEST_MS);

  it('a mail server that is down does not slow or break /forgot-password', async () => {
    await smtp.close();
    const page = await newPage();
    const took = await askForReset(page, issuer, USERS.carol);
    expect(took).toBeLessThan(5000);
    expect(server!.output()).not.toMatch(/latch_ln_/);
  }, PROCESS_TEST_MS);
});
