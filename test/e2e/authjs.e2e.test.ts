import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ExpressAuth, getSession, type ExpressAuthConfig } from '@auth/express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

/**
 * Auth.js (@auth/express, unmodified) as a relying party: a small Express app
 * with a generic OIDC provider that discovers latch from its issuer, signs a
 * user in through latch's login and consent pages in Chromium, then signs out
 * of both (RP-Initiated Logout, which tells the app by back-channel too).
 */
describe('Auth.js (@auth/express) signs a user into an Express app through latch', () => {
  let store: ServerStore | undefined;
  let latch: RunningServer;
  let rp: Server;
  let rpUrl: string;
  let issuer: string;
  let clientId: string;
  let browser: Browser;
  let page: Page;
  const backchannel: string[] = [];
  let arrived!: () => void;
  const backchannelArrived = new Promise<void>((resolve) => (arrived = resolve));

  beforeAll(async () => {
    const port = await freePort();
    const rpPort = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    rpUrl = `http://127.0.0.1:${rpPort}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer };
    latchJson(env, ['user', 'create', '--username', 'amelie', '--password-stdin'], 'authjs e2e password\n');
    const created = latchJson(env, [
      'client', 'create', '--name', 'Express RP',
      '--redirect-uri', `${rpUrl}/auth/callback/latch`,
      '--post-logout-redirect-uri', `${rpUrl}/signed-out`,
      '--backchannel-logout-uri', `${rpUrl}/backchannel-logout`,
    ]);
    clientId = created.client_id;
    expect(created).toMatchObject({ post_logout_redirect_uris: [`${rpUrl}/signed-out`], backchannel_logout_uri: `${rpUrl}/backchannel-logout`, id_token_alg: 'RS256' });
    latch = await startServer(env);

    const authConfig: ExpressAuthConfig = {
      basePath: '/auth',
      secret: 'authjs-e2e-secret-0123456789abcdef0123456789',
      trustHost: true,
      providers: [
        {
          id: 'latch',
          name: 'latch',
          type: 'oidc',
          issuer,
          clientId,
          clientSecret: created.client_secret,
          authorization: { params: { scope: 'openid profile email' } },
          checks: ['pkce', 'state', 'nonce'],
        },
      ],
      callbacks: {
        // latch's sub (Auth.js gives its users ids of its own), and the ID token for RP-Initiated Logout's id_token_hint.
        jwt: ({ token, account, profile }) => (account ? { ...token, id_token: account.id_token, latch_sub: profile?.sub } : token),
        session: ({ session, token }) => ({ ...session, sub: token.latch_sub, id_token: token.id_token }) as typeof session,
      },
    };
    const rpApp = express();
    rpApp.set('trust proxy', true);
    rpApp.post('/backchannel-logout', express.urlencoded({ extended: false }), (req, res) => {
      backchannel.push(String(req.body.logout_token));
      arrived();
      res.status(200).end();
    });
    rpApp.use('/auth', ExpressAuth(authConfig));
    rpApp.get('/', async (req, res) => {
      const session = (await getSession(req, authConfig)) as { user?: { name?: string }; sub?: string } | null;
      res.type('html').send(session?.user ? `<p id="user" data-sub="${session.sub}">${session.user.name}</p>` : '<p id="anonymous">not signed in</p>');
    });
    rpApp.get('/logout', async (req, res) => {
      const session = (await getSession(req, authConfig)) as { id_token?: string } | null;
      const url = new URL('/oauth/logout', issuer);
      url.searchParams.set('id_token_hint', session?.id_token ?? '');
      url.searchParams.set('post_logout_redirect_uri', `${rpUrl}/signed-out`);
      url.searchParams.set('state', 'rp-state');
      res.redirect(url.href);
    });
    rpApp.get('/signed-out', (req, res) => {
      res.type('html').send(`<p id="rp-signed-out" data-state="${String(req.query.state)}">signed out of latch</p>`);
    });
    rp = await new Promise<Server>((resolve) => {
      const s = rpApp.listen(rpPort, '127.0.0.1', () => resolve(s));
    });
    expect((rp.address() as AddressInfo).port).toBe(rpPort);

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await (await browser.newContext()).newPage();
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (rp ? rp.close(() => resolve()) : resolve()));
    if (latch) {
      const { code } = await latch.stop('SIGTERM');
      expect(code).toBe(0);
    }
    await store?.dispose();
  });

  it('signs in through latch\'s login and consent; the Auth.js session names the user', async () => {
    await page.goto(`${rpUrl}/auth/signin`);
    await Promise.all([page.waitForURL(`${issuer}/login**`), page.click('button[type="submit"]:has-text("latch")')]);
    await page.fill('#login-form input[name="username"]', 'amelie');
    await page.fill('#login-form input[name="password"]', 'authjs e2e password');
    await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
    await page.locator('#consent-form').waitFor();
    await Promise.all([page.waitForURL(`${rpUrl}/**`), page.click('#consent-form button[value="allow"]')]);
    await page.goto(`${rpUrl}/`);
    expect(await page.textContent('#user')).toBe('amelie');
    expect(await page.getAttribute('#user', 'data-sub')).not.toBe('amelie');
  });

  it('signs out: RP-Initiated Logout ends the latch session, returns with state, and the app hears by back-channel', async () => {
    const sub = await page.getAttribute('#user', 'data-sub');
    await page.goto(`${rpUrl}/logout`);
    await page.locator('#rp-signed-out').waitFor();
    expect(await page.getAttribute('#rp-signed-out', 'data-state')).toBe('rp-state');
    // latch's session is gone: its home page offers to sign in.
    await page.goto(`${issuer}/`);
    expect(await page.locator('a[href="/login"]').count()).toBe(1);

    await backchannelArrived;
    const { payload } = await jwtVerify(backchannel[0]!, createRemoteJWKSet(new URL('/oauth/jwks', issuer)), { issuer, audience: clientId, typ: 'logout+jwt' });
    expect(payload.sub).toBe(sub);
    expect(typeof payload.sid).toBe('string');

    // And out of the Auth.js app itself, through its own sign-out page.
    await page.goto(`${rpUrl}/auth/signout`);
    await Promise.all([page.waitForURL(`${rpUrl}/**`), page.click('button[type="submit"]')]);
    await page.goto(`${rpUrl}/`);
    expect(await page.textContent('#anonymous')).toBe('not signed in');
  });
});
