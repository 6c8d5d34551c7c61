import express from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';

/**
 * A small MCP server protected by latch, as the README's "Protecting an MCP
 * server with latch" describes: it serves RFC 9728 protected resource metadata
 * naming latch as its authorization server, answers 401 with a
 * WWW-Authenticate that points there, and checks every bearer token one of two
 * ways: by asking latch (RFC 7662 introspection, as a client created with
 * --introspect), or offline, as an RFC 9068 JWT signed by a key in latch's
 * JWKS. Either way the token's audience must name this server's own resource
 * URL: a token obtained for another resource server is refused here.
 */
export interface McpResource {
  /** The MCP endpoint (the resource identifier): http://127.0.0.1:PORT/mcp */
  url: URL;
  /** How many bearer tokens were turned down. */
  refused: number;
  /** Why the last one was, as told in the 401's error_description. */
  lastRefusal: string | undefined;
  close(): Promise<void>;
}

/** How tokens are checked: introspection with this client's credentials, or JWT signatures by latch's JWKS. */
export type TokenValidation = { introspection: { clientId: string; clientSecret: string } } | { jwks: true };

export async function startMcpResource(
  options: {
    /** latch's issuer; its RFC 8414 metadata is fetched from there. */
    issuer: string;
    scopes: string[];
  } & TokenValidation,
): Promise<McpResource> {
  const metadata = (await (await fetch(`${options.issuer}/.well-known/oauth-authorization-server`)).json()) as OAuthMetadata;
  const state: { refused: number; lastRefusal: string | undefined } = { refused: 0, lastRefusal: undefined };

  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);

  const check = 'jwks' in options ? jwtChecker(metadata, url) : introspectionChecker(metadata, url, options.introspection);
  const verifier: OAuthTokenVerifier = {
    async verifyAccessToken(token) {
      try {
        return await check(token);
      } catch (err) {
        if (err instanceof InvalidTokenError) {
          state.refused++;
          state.lastRefusal = err.message;
        }
        throw err;
      }
    },
  };

  app.use(mcpAuthMetadataRouter({ oauthMetadata: metadata, resourceServerUrl: url, scopesSupported: options.scopes, resourceName: 'latch e2e MCP server' }));
  const auth = requireBearerAuth({ verifier, requiredScopes: options.scopes, resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(url) });

  // Stateless Streamable HTTP: a server and transport per request.
  app.post('/mcp', auth, express.json(), async (req, res) => {
    const mcp = new McpServer({ name: 'latch-e2e', version: '1.0.0' });
    mcp.registerTool('whoami', { description: 'Says who the bearer token belongs to' }, async (extra) => ({
      content: [{ type: 'text', text: String(extra.authInfo?.extra?.username ?? 'nobody') }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });

  return {
    url,
    get refused() {
      return state.refused;
    },
    get lastRefusal() {
      return state.lastRefusal;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

type Check = (token: string) => Promise<AuthInfo>;

/** RFC 7662 `aud` (and RFC 9068's) is one string or an array of them. */
function audienceNames(aud: unknown, resource: URL): boolean {
  const names = Array.isArray(aud) ? aud : [aud];
  return names.includes(resource.href);
}

/** Asks latch about every token: revocation is seen at once, at the price of a request each time. */
function introspectionChecker(metadata: OAuthMetadata, resource: URL, credentials: { clientId: string; clientSecret: string }): Check {
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`).toString('base64')}`;
  return async (token) => {
    const r = await fetch(metadata.introspection_endpoint!, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (!r.ok) throw new Error(`latch introspection answered ${r.status}`);
    const info = (await r.json()) as { active: boolean; client_id?: string; scope?: string; exp?: number; username?: string; token_type?: string; aud?: string | string[] };
    // A refresh token is active too, but is no access token.
    if (!info.active || info.token_type === 'refresh_token') throw new InvalidTokenError('The access token is not active');
    // Active for latch, but perhaps for another resource server: one that accepted it could replay it anywhere.
    if (!audienceNames(info.aud, resource)) throw new InvalidTokenError('The access token is not for this resource');
    return {
      token,
      clientId: info.client_id!,
      scopes: (info.scope ?? '').split(' ').filter(Boolean),
      expiresAt: info.exp,
      resource,
      extra: { username: info.username },
    };
  };
}

/**
 * Checks RFC 9068 JWT access tokens offline (§4): a signature by a key latch
 * publishes, typ at+jwt (so an ID token is no access token), latch as iss, this
 * server as aud, exp not passed. A revoked JWT stays valid here until it expires.
 */
function jwtChecker(metadata: OAuthMetadata, resource: URL): Check {
  // A generous timeout: the machine running the tests may be busy.
  const jwks = createRemoteJWKSet(new URL(String(metadata.jwks_uri)), { timeoutDuration: 30_000 });
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        typ: 'at+jwt',
        issuer: metadata.issuer,
        audience: resource.href,
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
      }));
    } catch (err) {
      // Not reaching latch is this server's trouble (a 500), not the token's.
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) throw err;
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') throw new InvalidTokenError('The access token is not for this resource');
      throw new InvalidTokenError('The access token is not a valid JWT access token from latch');
    }
    return {
      token,
      clientId: String(payload.client_id),
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
      expiresAt: payload.exp,
      resource,
      // A JWT names the user by latch's stable id, not by username.
      extra: { username: payload.sub },
    };
  };
}
