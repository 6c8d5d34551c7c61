import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, runLatch, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const DOCS = join(process.cwd(), 'docs');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const ADMIN = { username: 'ops-admin', password: 'admin e2e password' };
const TARGET = { username: 'mallory', password: 'wonderland e2e pw' };

async function click(page: Page, selector: string) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: join(DOCS, `${name}.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(DOCS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

describe('user administration in headless Chromium against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer | undefined;
  let browser: Browser;
  let issuer: string;
  let client: { client_id: string; client_secret: string };

  const basic = () => 'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64');
  const post = (path: string, params: Record<string, string>) =>
    fetch(`${issuer}${path}`, { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) });
  /** The resource server's question: is this token still good? */
  const active = async (token: string) => ((await (await post('/oauth/introspect', { token })).json()) as { active: boolean }).active;
  const passwordGrant = () => post('/oauth/token', { grant_type: 'password', username: TARGET.username, password: TARGET.password, scope: 'read' });

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, LATCH_SITE_NAME: 'Acme Accounts', LATCH_ACCENT_COLOR: '#0b7a75' };
    const cliEnv = { ...env, LOG_LEVEL: 'silent' };
    // The CLI runs before the server: on PGlite only one process may hold the data directory.
    for (const [u, admin] of [[ADMIN, true], [TARGET, false]] as const) {
      const r = runLatch(['user', 'create', '--username', u.username, '--password-stdin', '--email', `${u.username}@example.org`, ...(admin ? ['--admin'] : []), '--json'], cliEnv, `${u.password}\n`);
      if (r.status !== 0) throw new Error(`bin/latch user create failed: ${r.stderr}`);
    }
    for (let i = 0; i < 4; i++) {
      const r = runLatch(['user', 'create', '--username', `member${String(i).padStart(2, '0')}`, '--password', 'a long member password', '--json'], cliEnv);
      if (r.status !== 0) throw new Error(r.stderr);
    }
    client = latchJson(cliEnv, ['client', 'create', '--name', 'Inventory API', '--redirect-uri', 'https://inventory.example/cb', '--grant-types', 'password,refresh_token', '--introspect', '--json']);
    server = await startServer(env);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    if (server) expect((await server.stop('SIGTERM')).code).toBe(0);
    await store?.dispose();
  }, PROCESS_TEST_MS);

  it('an admin finds a user, disables them (their token fails introspection at once), reads the events, re-enables them', async () => {
    const grant = await passwordGrant();
    expect(grant.status).toBe(200);
    const { access_token: token } = (await grant.json()) as { access_token: string };
    expect(await active(token)).toBe(true);

    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    try {
      await page.goto(`${issuer}/login`);
      await page.fill('#login-form input[name="username"]', ADMIN.username);
      await page.fill('#login-form input[name="password"]', ADMIN.password);
      await click(page, '#login-form button[type="submit"]');
      expect(await page.title()).toBe('Acme Accounts');
      await click(page, '#admin-users-link');
      expect(new URL(page.url()).pathname).toBe('/admin/users');
      expect(await page.locator('tr.user').count()).toBe(6);
      await shoot(page, 'admin-users');

      await page.fill('#user-search input[name="q"]', 'MALL');
      await click(page, '#user-search button[type="submit"]');
      expect(await page.locator('tr.user').count()).toBe(1);
      await click(page, 'a.user-link');
      expect(await page.textContent('h1')).toContain('mallory');
      expect(await page.textContent('#last-signin')).not.toContain('none recorded');
      await shoot(page, 'admin-user');

      await page.check('#user-disable-form input[name="confirm"]');
      await click(page, '#user-disable-form button[type="submit"]');
      expect(await page.textContent('#user-status')).toBe('disabled');
      expect(await page.textContent('#user-done')).toContain('every token revoked');
      // The resource server asks right after: the token is dead, no cache to wait out.
      expect(await active(token)).toBe(false);
      const refused = await passwordGrant();
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');

      await page.goto(`${issuer}/admin/audit?user=mallory`);
      const actions = await page.locator('tr.audit-event').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
      expect(actions.slice(0, 3)).toEqual(['signin.failure', 'user.disable', 'signin.success']);
      expect(await page.textContent('tr.audit-event[data-action="user.disable"]')).toContain(ADMIN.username);

      await page.goto(`${issuer}/admin/users?q=mallory`);
      await click(page, 'a.user-link');
      await click(page, '#user-enable-form button[type="submit"]');
      expect(await page.textContent('#user-status')).toBe('active');
      expect(await active(token)).toBe(false);
      expect((await passwordGrant()).status).toBe(200);
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  }, PROCESS_TEST_MS);
});
