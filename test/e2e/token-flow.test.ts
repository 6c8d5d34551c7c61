import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { freePort, runLatch, startServer, type RunningServer } from '../helpers/server.js';

/**
 * The token endpoint as a real client library sees it: openid-client (not our
 * code) discovers the metadata, exchanges a code with PKCE, refreshes,
 * introspects and revokes against the real server over HTTP.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'latch-e2e-token-'));
const env = { LATCH_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
const REDIRECT = 'http://127.0.0.1:8765/callback';
let server: RunningServer;
let app: { client_id: string; client_secret: string };
let resourceServer: { client_id: string; client_secret: string };

function latch(args: string[], input?: string) {
  const r = runLatch([...args, '--json'], env, input);
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/** A tiny cookie jar over fetch, following no redirects, as a browser without JavaScript would. */
class Browser {
  private cookies = new Map<string, string>();
  async get(url: string) {
    return this.send(url, { method: 'GET' });
  }
  async post(url: string, form: Record<string, string>) {
    return this.send(url, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
  private async send(url: string, init: RequestInit) {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }
}

beforeAll(async () => {
  latch(['user', 'create', '--username', 'grace', '--password-stdin'], 'g-secret-phrase-1');
  app = latch(['client', 'create', '--name', 'E2E app', '--redirect-uri', REDIRECT, '--scope', 'read write', '--skip-consent']);
  resourceServer = latch(['client', 'create', '--name', 'API', '--grant-types', 'client_credentials', '--introspect']);
  const port = await freePort();
  server = await startServer({ ...env, LOG_LEVEL: 'info', PORT: String(port), LATCH_ISSUER: `http://127.0.0.1:${port}` });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('token endpoint end to end with openid-client', () => {
  it('code exchange with PKCE, refresh, introspection and revocation', async () => {
    const config = await oidc.discovery(new URL(server.url), app.client_id, app.client_secret, oidc.ClientSecretBasic(app.client_secret), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const authorizeUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'read write',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });

    // Sign in through the login form, then come back to /oauth/authorize.
    const browser = new Browser();
    const toLogin = await browser.get(authorizeUrl.href);
    expect(toLogin.status).toBe(302);
    const loginUrl = new URL(toLogin.headers.get('location')!, server.url);
    const loginPage = await (await browser.get(loginUrl.href)).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(loginPage)![1]!;
    const returnTo = loginUrl.searchParams.get('return_to')!;
    const signedIn = await browser.post(`${server.url}/login`, { _csrf: csrf, username: 'grace', password: 'g-secret-phrase-1', return_to: returnTo });
    expect(signedIn.status).toBe(303);
    const back = await browser.get(new URL(signedIn.headers.get('location')!, server.url).href);
    expect(back.status).toBe(302);
    const callback = new URL(back.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);

    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.access_token).toMatch(/^latch_at_/);
    expect(tokens.refresh_token).toMatch(/^latch_rt_/);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('read write');

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

    const rsConfig = await oidc.discovery(new URL(server.url), resourceServer.client_id, resourceServer.client_secret, oidc.ClientSecretBasic(resourceServer.client_secret), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const live = await oidc.tokenIntrospection(rsConfig, refreshed.access_token);
    expect(live).toMatchObject({ active: true, username: 'grace', client_id: app.client_id, scope: 'read write' });
    const old = await oidc.tokenIntrospection(rsConfig, tokens.access_token);
    expect(old.active).toBe(false);

    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    expect((await oidc.tokenIntrospection(rsConfig, refreshed.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
