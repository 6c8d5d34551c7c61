import type { FastifyInstance } from 'fastify';
import { basic } from './fixtures.js';

/** POSTs form parameters to `url`, authenticating with Basic when a secret is given. */
export function post(app: FastifyInstance, url: string, params: Record<string, string>, auth?: { id: string; secret?: string | null }) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth?.secret) headers.authorization = basic(auth.id, auth.secret);
  else if (auth) params = { client_id: auth.id, ...params };
  return app.inject({ method: 'POST', url, payload: new URLSearchParams(params).toString(), headers });
}

export const asAuth = (c: { client_id: string; secret: string | null }) => ({ id: c.client_id, secret: c.secret });
