import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { chromium, type Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ARTIFACTS, CHROMIUM_ARGS, freePort, latchJson, PROCESS_TEST_MS, serverStore, startServer, type RunningServer, type ServerStore } from '../helpers/server.js';
import { startMcpResource, type McpResource } from '../mcp/resource-server.js';

const PASSWORD = 'mcp e2e password';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** What an MCP client keeps between runs, in memory: the SDK calls these as its auth() goes. */
class MemoryProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  constructor(readonly redirectUrl: string) {}
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP E2E Client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'read',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A desktop MCP client's redirect target: a loopback listener (RFC 8252 §7.3) that catches the code. */
async function loopbackRedirect() {
  const caught: { code: string | null; callback: string } = { code: null, callback: '' };
  const listener = createServer((req, res) => {
    const url = new URL(req.url!, 'http://127.0.0.1');
    // The browser asks for a favicon too.
    if (url.pathname === '/callback') {
      caught.callback = url.href;
      caught.code = url.searchParams.get('code');
    }
    res.end('You may close this window.');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    redirectUrl: `http://127.0.0.1:${(listener.address() as AddressInfo).port}/callback`,
    caught,
    close() {
      listener.closeAllConnections();
      listener.close();
    },
  };
}

/** A bare MCP request with a bearer token, to see a resource server's answer to it. */
const initializeWith = (url: URL, token: string) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });

const NOT_FOR_THIS_RESOURCE = 'The access token is not for this resource';

/**
 * The MCP authorization path end to end, with nothing written here on the
 * client side: the MCP TypeScript SDK's own client auth discovers latch from
 * a protected MCP server's RFC 9728 metadata, registers itself (RFC 7591),
 * sends the user (headless Chromium) through latch's login and consent pages,
 * exchanges the code with PKCE and `resource`, and then initializes and lists
 * tools. Registration and RFC 7592 management are also driven by oauth4webapi.
 */
describe('MCP clients and dynamic registration against the real server', () => {
  let store: ServerStore | undefined;
  let server: RunningServer;
  let browser: Browser;
  let resource: McpResource;
  /** Another MCP server with the same introspection credentials, at another URL: another resource. */
  let other: McpResource;
  /** Two MCP servers that check JWT access tokens against latch's JWKS instead. */
  let jwtResource: McpResource;
  let jwtOther: McpResource;
  let issuer: string;
  let env: NodeJS.ProcessEnv;
  let introspector: { clientId: string; clientSecret: string };
  let miaId: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    store = await serverStore();
    env = { ...store.env, PORT: String(port), LATCH_ISSUER: issuer, LATCH_REGISTRATION: 'open' };
    miaId = latchJson(env, ['user', 'create', '--username', 'mia', '--password-stdin'], `${PASSWORD}\n`).id;
    const rs = latchJson(env, ['client', 'create', '--name', 'MCP resource server', '--grant-types', 'client_credentials', '--introspect']);
    introspector = { clientId: rs.client_id, clientSecret: rs.client_secret };
    server = await startServer(env);
    resource = await startMcpResource({ issuer, introspection: introspector, scopes: ['read'] });
    other = await startMcpResource({ issuer, introspection: introspector, scopes: ['read'] });
    jwtResource = await startMcpResource({ issuer, jwks: true, scopes: ['read'] });
    jwtOther = await startMcpResource({ issuer, jwks: true, scopes: ['read'] });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, PROCESS_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    for (const rs of [resource, other, jwtResource, jwtOther]) await rs?.close();
    if (server) {
      const { code } = await server.stop('SIGTERM');
      expect(code).toBe(0);
    }
    await store?.dispose();
  });

  /** The user's part: latch's login and consent pages in Chromium, until the redirect reaches the client. */
  async function signInAndAllow(authorizationUrl: URL, redirectUrl: string, screenshot: string) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(authorizationUrl.href);
      await page.fill('#login-form input[name="username"]', 'mia');
      await page.fill('#login-form input[name="password"]', PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
      await page.locator('#consent-form').waitFor();
      expect(await page.textContent('h1')).toContain('MCP E2E Client');
      await page.screenshot({ path: join(ARTIFACTS, screenshot), fullPage: true });
      await Promise.all([page.waitForURL(`${redirectUrl}**`), page.click('#consent-form button[value="allow"]')]);
    } finally {
      await context.close();
    }
  }

  it('the MCP SDK: 401 with resource metadata → discovery → registration → login and consent in Chromium → token → initialize and tools/list', async () => {
    const loopback = await loopbackRedirect();
    const redirectUrl = loopback.redirectUrl;
    const provider = new MemoryProvider(redirectUrl);

    // Without a token the resource server points at its RFC 9728 metadata, which names latch.
    const bare = await fetch(resource.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toContain(`resource_metadata="${resource.url.origin}/.well-known/oauth-protected-resource/mcp"`);
    const prm = await (await fetch(`${resource.url.origin}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm).toMatchObject({ resource: resource.url.href, authorization_servers: [issuer] });

    const first = new Client({ name: 'latch-e2e', version: '1.0.0' });
    await expect(first.connect(new StreamableHTTPClientTransport(resource.url, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    // The SDK registered itself with latch (RFC 7591) and asked for the user's authorization.
    expect(provider.info?.client_id).toMatch(/^[0-9a-f]{32}$/);
    expect(provider.info).not.toHaveProperty('client_secret');
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${issuer}/oauth/authorize`);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('resource')).toBe(resource.url.href);

    try {
      await signInAndAllow(authorizationUrl, redirectUrl, 'mcp-consent.png');
    } finally {
      loopback.close();
    }
    const { code, callback } = loopback.caught;
    expect(code, callback).toMatch(/^latch_ac_/);

    // The SDK exchanges the code (PKCE, `resource`) and stores the tokens.
    const transport = new StreamableHTTPClientTransport(resource.url, { authProvider: provider });
    await transport.finishAuth(code!);
    expect(provider.saved?.access_token).toMatch(/^latch_at_/);

    const client = new Client({ name: 'latch-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(resource.url, { authProvider: provider }));
    expect(client.getServerVersion()).toMatchObject({ name: 'latch-e2e' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['whoami']);
    const said = await client.callTool({ name: 'whoami', arguments: {} });
    expect(said.content).toEqual([{ type: 'text', text: 'mia' }]);
    await client.close();

    // The token's audience is the resource it was asked for (RFC 8707), as introspection tells…
    const introspected = await fetch(`${issuer}/oauth/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${introspector.clientId}:${introspector.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: provider.saved!.access_token }),
    });
    expect(await introspected.json()).toMatchObject({ active: true, aud: resource.url.href });
    // …so another resource server that checks `aud` refuses it, though latch calls it active; the first still takes it.
    const elsewhere = await initializeWith(other.url, provider.saved!.access_token);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(other.refused).toBe(1);
    expect(other.lastRefusal).toBe(NOT_FOR_THIS_RESOURCE);
    expect((await initializeWith(resource.url, provider.saved!.access_token)).status).toBe(200);

    // A token latch no longer honours is refused by the resource server after introspection.
    const revoke = await fetch(`${issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: provider.saved!.access_token, client_id: provider.info!.client_id }),
    });
    expect(revoke.status).toBe(200);
    const refusedBefore = resource.refused;
    const after = await fetch(resource.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${provider.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(after.status).toBe(401);
    expect(resource.refused).toBe(refusedBefore + 1);
  });

  it('a registered MCP client made a JWT client: its RFC 9068 token passes an MCP server that checks by JWKS, and no other resource server', async () => {
    const loopback = await loopbackRedirect();
    const provider = new MemoryProvider(loopback.redirectUrl);
    const first = new Client({ name: 'latch-e2e', version: '1.0.0' });
    await expect(first.connect(new StreamableHTTPClientTransport(jwtResource.url, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const clientId = provider.info!.client_id;
    expect(provider.authorizationUrl!.searchParams.get('resource')).toBe(jwtResource.url.href);

    // Registration metadata cannot ask for JWT access tokens; an administrator switches the registered client.
    // (With PGlite the CLI goes through the running server's socket.)
    expect(latchJson(env, ['client', 'update', clientId, '--access-token-format', 'jwt'])).toMatchObject({ client_id: clientId, access_token_format: 'jwt' });

    try {
      await signInAndAllow(provider.authorizationUrl!, loopback.redirectUrl, 'mcp-jwt-consent.png');
    } finally {
      loopback.close();
    }
    const { code, callback } = loopback.caught;
    expect(code, callback).toMatch(/^latch_ac_/);
    await new StreamableHTTPClientTransport(jwtResource.url, { authProvider: provider }).finishAuth(code!);
    const jwt = provider.saved!.access_token;
    expect(decodeProtectedHeader(jwt).typ).toBe('at+jwt');
    expect(decodeJwt(jwt)).toMatchObject({ iss: issuer, aud: jwtResource.url.href, sub: miaId, client_id: clientId, scope: 'read' });

    // The JWKS-checking MCP server takes it, offline: initialize, tools/list and a call that sees the token's subject.
    const client = new Client({ name: 'latch-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(jwtResource.url, { authProvider: provider }));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['whoami']);
    expect((await client.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: miaId }]);
    await client.close();
    expect(jwtResource.refused).toBe(0);

    // Another resource server refuses it for its audience, whether it checks by JWKS or by introspection.
    const byJwks = await initializeWith(jwtOther.url, jwt);
    expect(byJwks.status).toBe(401);
    expect(byJwks.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(jwtOther.refused).toBe(1);
    expect(jwtOther.lastRefusal).toBe(NOT_FOR_THIS_RESOURCE);
    const refusedBefore = resource.refused;
    expect((await initializeWith(resource.url, jwt)).status).toBe(401);
    expect(resource.refused).toBe(refusedBefore + 1);
    expect(resource.lastRefusal).toBe(NOT_FOR_THIS_RESOURCE);

    // The JWKS check is no mere decoding: a token whose signature is not latch's is refused too.
    const [header, payload] = jwt.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not latch').toString('base64url')}`;
    expect((await initializeWith(jwtResource.url, forged)).status).toBe(401);
    expect(jwtResource.lastRefusal).toBe('The access token is not a valid JWT access token from latch');
    // Nor is an opaque token, which only introspection can check.
    expect((await initializeWith(jwtResource.url, 'latch_at_opaque')).status).toBe(401);
    expect(jwtResource.refused).toBe(2);
    expect((await initializeWith(jwtResource.url, jwt)).status).toBe(200);
  });

  it('oauth4webapi registers a client (RFC 7591); RFC 7592 reads, replaces (rotating the token) and deletes it', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }));
    expect(as.registration_endpoint).toBe(`${issuer}/oauth/register`);
    const metadata = { client_name: 'Registered by oauth4webapi', redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'client_secret_basic' };
    const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, metadata, insecure));
    expect(registered).toMatchObject({ client_name: 'Registered by oauth4webapi', redirect_uris: ['https://rp.example/cb'], client_secret_expires_at: 0 });
    expect(registered.client_secret).toMatch(/^latch_cs_/);
    const uri = new URL(registered.registration_client_uri as string);
    const rat = registered.registration_access_token as string;

    // The secret works at the token endpoint: an unknown code is invalid_grant, not invalid_client.
    const client: oauth.Client = { client_id: registered.client_id };
    const cb = new URL(`https://rp.example/cb?code=latch_ac_nope&iss=${encodeURIComponent(issuer)}`);
    const params = oauth.validateAuthResponse(as, client, cb, oauth.expectNoState);
    await expect(
      oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(registered.client_secret as string), params, 'https://rp.example/cb', oauth.generateRandomCodeVerifier(), insecure),
      ),
    ).rejects.toMatchObject({ error: 'invalid_grant' });

    const read = await oauth.protectedResourceRequest(rat, 'GET', uri, undefined, undefined, insecure);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ client_id: registered.client_id, client_name: 'Registered by oauth4webapi' });

    const put = await oauth.protectedResourceRequest(
      rat,
      'PUT',
      uri,
      new Headers({ 'content-type': 'application/json' }),
      JSON.stringify({ ...metadata, client_id: registered.client_id, client_name: 'Renamed' }),
      insecure,
    );
    expect(put.status).toBe(200);
    const replaced = await put.json();
    expect(replaced.client_name).toBe('Renamed');
    expect(replaced.registration_access_token).not.toBe(rat);
    await expect(oauth.protectedResourceRequest(rat, 'GET', uri, undefined, undefined, insecure)).rejects.toMatchObject({ status: 401, cause: [expect.objectContaining({ scheme: 'bearer', parameters: expect.objectContaining({ error: 'invalid_token' }) })] });

    const del = await oauth.protectedResourceRequest(replaced.registration_access_token, 'DELETE', uri, undefined, undefined, insecure);
    expect(del.status).toBe(204);
    await expect(oauth.protectedResourceRequest(replaced.registration_access_token, 'GET', uri, undefined, undefined, insecure)).rejects.toMatchObject({ status: 401 });
  });
});
