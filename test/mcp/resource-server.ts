import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';

/**
 * A small MCP server protected by latch, as the README's "Protecting an MCP
 * server with latch" describes: it serves RFC 9728 protected resource metadata
 * naming latch as its authorization server, answers 401 with a
 * WWW-Authenticate that points there, and checks every bearer token by asking
 * latch (RFC 7662 introspection, as a client created with --introspect).
 */
export interface McpResource {
  /** The MCP endpoint (the resource identifier): http://127.0.0.1:PORT/mcp */
  url: URL;
  /** How many tokens latch's introspection turned down. */
  refused: number;
  close(): Promise<void>;
}

export async function startMcpResource(options: {
  /** latch's issuer; its RFC 8414 metadata is fetched from there. */
  issuer: string;
  introspection: { clientId: string; clientSecret: string };
  scopes: string[];
}): Promise<McpResource> {
  const metadata = (await (await fetch(`${options.issuer}/.well-known/oauth-authorization-server`)).json()) as OAuthMetadata;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(options.introspection.clientId)}:${encodeURIComponent(options.introspection.clientSecret)}`).toString('base64')}`;
  const state = { refused: 0 };

  const verifier: OAuthTokenVerifier = {
    async verifyAccessToken(token) {
      const r = await fetch(metadata.introspection_endpoint!, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
      if (!r.ok) throw new Error(`latch introspection answered ${r.status}`);
      const info = (await r.json()) as { active: boolean; client_id?: string; scope?: string; exp?: number; username?: string; token_type?: string };
      // A refresh token is active too, but is no access token.
      if (!info.active || info.token_type === 'refresh_token') {
        state.refused++;
        throw new InvalidTokenError('The access token is not active');
      }
      return {
        token,
        clientId: info.client_id!,
        scopes: (info.scope ?? '').split(' ').filter(Boolean),
        expiresAt: info.exp,
        extra: { username: info.username },
      };
    },
  };

  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);

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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
