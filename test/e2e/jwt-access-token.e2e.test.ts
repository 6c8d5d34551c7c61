import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
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
  let env: NodeJS.ProcessEnv;
  let job: oauth.Client;
  let jobAuth: oauth.ClientAuth;
  let resourceServer: oauth.Client;
  let resourceServerAuth: oauth.ClientAuth;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer };
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
    // A machine client whose JWT access tokens are for API, and the API itself (it may introspect anyone's tokens).
    const batch = latchJson(env, ['client', 'create', '--name', 'Nightly job', '--grant-types', 'client_credentials', '--scope', 'read', '--access-token-format', 'jwt', '--resource', API]);
    job = { client_id: batch.client_id };
    jobAuth = oauth.ClientSecretBasic(batch.client_secret);
    const rs = latchJson(env, ['client', 'create', '--name', 'Things API', '--grant-types', 'client_credentials', '--introspect']);
    resourceServer = { client_id: rs.client_id };
    resourceServerAuth = oauth.ClientSecretBasic(rs.client_secret);

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

  /** A JWT access token for API, issued to the machine client by client_credentials. */
  async function jobToken(): Promise<string> {
    const response = await oauth.clientCredentialsGrantRequest(as, job, jobAuth, new URLSearchParams({ scope: 'read', resource: API }), {
      [oauth.allowInsecureRequests]: true,
    });
    return (await oauth.processClientCredentialsResponse(as, job, response)).access_token;
  }

  async function introspect(token: string) {
    const response = await oauth.introspectionRequest(as, resourceServer, resourceServerAuth, token, { [oauth.allowInsecureRequests]: true });
    return oauth.processIntrospectionResponse(as, resourceServer, response);
  }

  it(
    'a resource server verifying JWT access tokens offline with jose.createRemoteJWKSet + jwtVerify, before and after a key rotation',
    async () => {
      // One JWKS set for the whole test, as a resource server holds one; its fetches are counted and kept.
      const fetched: JSONWebKeySet[] = [];
      const jwks = createRemoteJWKSet(new URL(as.jwks_uri!), {
        [customFetch]: async (url, init) => {
          const response = await fetch(url, init);
          fetched.push((await response.clone().json()) as JSONWebKeySet);
          return response;
        },
      });
      const verify = (token: string) => jwtVerify(token, jwks, { issuer, audience: API, typ: 'at+jwt', algorithms: ['RS256'] });

      const before = await jobToken();
      const oldKid = decodeProtectedHeader(before).kid!;
      const verifiedBefore = await verify(before);
      expect(verifiedBefore.payload).toMatchObject({ iss: issuer, aud: API, client_id: job.client_id, scope: 'read' });
      expect(fetched).toHaveLength(1);
      const publishedBefore = fetched[0]!.keys.map((k) => k.kid);
      expect(publishedBefore).toContain(oldKid);

      const listed = latchJson(env, ['keys', 'list']).keys as { kid: string; alg: string; state: string }[];
      const next = listed.find((k) => k.alg === 'RS256' && k.state === 'next')!;
      expect(listed.find((k) => k.alg === 'RS256' && k.state === 'current')?.kid).toBe(oldKid);
      // The key that will sign after the rotation is already in the set the resource server cached.
      expect(publishedBefore).toContain(next.kid);

      // Through the running server's socket on PGlite; straight to the database on PostgreSQL.
      const rotated = latchJson(env, ['keys', 'rotate', '--alg', 'RS256']).keys as { kid: string; alg: string; state: string }[];
      expect(rotated.find((k) => k.alg === 'RS256' && k.state === 'current')?.kid).toBe(next.kid);
      expect(rotated.find((k) => k.kid === oldKid)?.state).toBe('retired');

      // The server picks the rotation up in its background refresh (every few seconds); bounded wait for it.
      const deadline = Date.now() + 60_000;
      let after = await jobToken();
      while (decodeProtectedHeader(after).kid === oldKid) {
        if (Date.now() > deadline) throw new Error(`the server still signs with ${oldKid} 60 s after the rotation`);
        await new Promise((resolve) => setTimeout(resolve, 250));
        after = await jobToken();
      }
      expect(decodeProtectedHeader(after).kid).toBe(next.kid);

      // Both verify against the same cached set: the new kid was known, so nothing was refetched.
      const verifiedAfter = await verify(after);
      expect(verifiedAfter.protectedHeader.kid).toBe(next.kid);
      expect(verifiedAfter.payload).toMatchObject({ iss: issuer, aud: API, client_id: job.client_id });
      expect((await verify(before)).protectedHeader.kid).toBe(oldKid);
      expect(fetched).toHaveLength(1);

      // Still recorded, so introspection agrees: both active.
      expect(await introspect(before)).toMatchObject({ active: true, client_id: job.client_id });
      expect(await introspect(after)).toMatchObject({ active: true, client_id: job.client_id });
    },
    PROCESS_TEST_MS,
  );
});
