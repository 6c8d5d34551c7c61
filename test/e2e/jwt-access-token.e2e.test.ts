import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startCallbackServer } from '../helpers/callback.js';
import { CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';

const API = 'https://api.example.com/';
const FILES = 'https://files.example.com/';

describe('JWT access tokens with resource indicators, against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let browser: Browser;
  let page: Page;
  let issuer: string;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let clientAuth: oauth.ClientAuth;
  let redirectUri: string;
  let shown: Record<string, unknown>;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    const env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer };
    callback = await startCallbackServer();
    redirectUri = `http://127.0.0.1:${callback.port}/callback`;
    latchJson(env, ['user', 'create', '--username', 'ruth', '--password-stdin'], 'jwt access e2e password\n');
    const created = latchJson(env, [
      'client', 'create', '--name', 'API caller', '--redirect-uri', 'http://127.0.0.1/callback', '--scope', 'read',
      '--skip-consent', '--access-token-format', 'jwt', '--resource', API, '--resource', FILES,
    ]);
    shown = latchJson(env, ['client', 'show', created.client_id]);
    client = { client_id: created.client_id };
    clientAuth = oauth.ClientSecretBasic(created.client_secret);

    server = await startServer(env);
    const discovered = await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oidc', [oauth.allowInsecureRequests]: true });
    as = await oauth.processDiscoveryResponse(new URL(issuer), discovered);
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

  it('client show --json states the format and the resources', () => {
    expect(shown).toMatchObject({ access_token_format: 'jwt', resources: [API, FILES] });
  });

  it('oauth4webapi: code flow with resource; the JWT access token validates at the resource server (RFC 9068), offline with jose too', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'read',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    url.searchParams.append('resource', API);
    url.searchParams.append('resource', FILES);

    await page.goto(url.href);
    await page.locator('#login-form').waitFor();
    await page.fill('#login-form input[name="username"]', 'ruth');
    await page.fill('#login-form input[name="password"]', 'jwt access e2e password');
    await Promise.all([page.waitForURL(`${redirectUri}?**`), page.click('#login-form button[type="submit"]')]);

    const params = oauth.validateAuthResponse(as, client, new URL(page.url()), state);
    // The token request narrows to one of the two resources (RFC 8707 §2.2).
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, verifier, {
      additionalParameters: { resource: API },
      [oauth.allowInsecureRequests]: true,
    });
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');

    // The resource server, with oauth4webapi: signature by the issuer's JWKS, typ, iss, aud, exp and the required claims.
    const request = new Request(`${API}things`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, API, { [oauth.allowInsecureRequests]: true });
    expect(claims).toMatchObject({ iss: issuer, aud: API, client_id: client.client_id, scope: 'read' });
    // A resource server for the other resource refuses it: the token was narrowed to API.
    const other = new Request(`${FILES}x`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await expect(oauth.validateJwtAccessToken(as, other, FILES, { [oauth.allowInsecureRequests]: true })).rejects.toThrow();

    // The same offline check with jose against the running server's /oauth/jwks.
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
    const verified = await jwtVerify(tokens.access_token, jwks, { issuer, audience: API, typ: 'at+jwt' });
    expect(verified.payload.sub).toBe(claims.sub);
    await expect(jwtVerify(tokens.access_token, jwks, { issuer, audience: FILES, typ: 'at+jwt' })).rejects.toThrow();

    // Still recorded: revoked, introspection says active:false (the JWT itself stays well-signed).
    const revoke = await oauth.revocationRequest(as, client, clientAuth, tokens.access_token, { [oauth.allowInsecureRequests]: true });
    await oauth.processRevocationResponse(revoke);
    const introspected = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, clientAuth, tokens.access_token, { [oauth.allowInsecureRequests]: true }),
    );
    expect(introspected.active).toBe(false);
  });
});
