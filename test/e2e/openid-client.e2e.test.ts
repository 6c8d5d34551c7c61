import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startCallbackServer } from '../helpers/callback.js';
import { CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

describe('openid-client 6 as a relying party against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let browser: Browser;
  let page: Page;
  let issuer: string;
  let clientId: string;
  let config: client.Configuration;
  let redirectUri: string;
  let postLogoutRedirectUri: string;
  let idToken: string;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer };
    callback = await startCallbackServer();
    redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    postLogoutRedirectUri = `http://127.0.0.1:${callback.port}/signed-out`;
    // The CLI runs before the server: on PGlite only one process may hold the data directory.
    latchJson(env, ['user', 'create', '--username', 'olivia', '--password-stdin'], 'openid e2e password\n');
    const created = latchJson(env, [
      'client', 'create', '--name', 'OIDC RP', '--redirect-uri', 'http://127.0.0.1/callback', '--scope', 'read',
      '--post-logout-redirect-uri', postLogoutRedirectUri,
    ]);
    clientId = created.client_id;

    server = await startServer(env);
    // Discovered from the origin (/.well-known/openid-configuration); plain http is the loopback test issuer only.
    config = await client.discovery(new URL(issuer), clientId, created.client_secret, undefined, {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await (await browser.newContext()).newPage();
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

  it('code + PKCE + nonce: the ID token validates, a refresh brings a new one, UserInfo answers the same sub', async () => {
    expect(config.serverMetadata().issuer).toBe(issuer);
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile read',
      state,
      nonce,
      login_hint: 'olivia',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });

    await page.goto(url.href);
    await page.locator('#login-form').waitFor();
    expect(await page.inputValue('#login-form input[name="username"]')).toBe('olivia');
    await page.fill('#login-form input[name="password"]', 'openid e2e password');
    await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
    await page.locator('#consent-form').waitFor();
    await Promise.all([page.waitForURL(`${redirectUri}?**`), page.click('#consent-form button[value="allow"]')]);

    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true });
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(issuer);
    expect(claims.aud).toBe(clientId);
    expect(claims.nonce).toBe(nonce);
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.preferred_username).toBe('olivia');
    expect(claims.sub).not.toBe('olivia');
    idToken = tokens.id_token!;

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.id_token).toBeTruthy();
    expect(refreshed.id_token).not.toBe(tokens.id_token);
    expect(refreshed.claims()!.sub).toBe(claims.sub);

    const userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, preferred_username: 'olivia', username: 'olivia' });
  });

  it('a resource server verifies the ID token offline against /oauth/jwks with jose', async () => {
    expect(idToken).toBeTruthy();
    const jwks = createRemoteJWKSet(new URL('/oauth/jwks', issuer));
    const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer, audience: clientId });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.aud).toBe(clientId);
  });

  it('prompt=none with the live browser session answers silently with a code', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile read',
      nonce,
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true });
    expect(tokens.claims()!.nonce).toBe(nonce);
  });

  it('ending the session: buildEndSessionUrl signs the browser out and returns it to the post-logout URI with its state', async () => {
    expect(idToken).toBeTruthy();
    expect(config.serverMetadata().end_session_endpoint).toBe(`${issuer}/oauth/logout`);
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: postLogoutRedirectUri, state });

    // A valid hint for the signed-in user: latch ends the session without asking and redirects.
    await Promise.all([page.waitForURL(`${postLogoutRedirectUri}?**`), page.goto(url.href)]);
    const landed = new URL(page.url());
    expect(`${landed.origin}${landed.pathname}`).toBe(postLogoutRedirectUri);
    expect(landed.searchParams.get('state')).toBe(state);
    // The app's server received it (Chromium may ask the same origin for /favicon.ico too).
    const received = callback.hits.filter((hit) => hit.pathname === '/signed-out');
    expect(received.map((hit) => hit.searchParams.get('state'))).toEqual([state]);

    // The session is really gone: a silent authorization in the same browser now answers login_required.
    const verifier = client.randomPKCECodeVerifier();
    const silentState = client.randomState();
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile read',
      state: silentState,
      nonce: client.randomNonce(),
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await Promise.all([page.waitForURL(`${redirectUri}?**`), page.goto(silent.href)]);
    const answer = new URL(page.url());
    expect(answer.searchParams.get('error')).toBe('login_required');
    expect(answer.searchParams.has('code')).toBe(false);
    await expect(
      client.authorizationCodeGrant(config, answer, { pkceCodeVerifier: verifier, expectedState: silentState, idTokenExpected: true }),
    ).rejects.toMatchObject({ error: 'login_required' });
  });
});
