import type { FastifyInstance } from 'fastify';
import type { TestContext } from './app.js';
import { basic } from './fixtures.js';
import type { SignedIn } from './session.js';

export type FormValues = Record<string, string | string[] | undefined>;

/** A urlencoded body; arrays repeat the field, as checkboxes do. */
export function encode(values: FormValues): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) {
    for (const item of [v ?? []].flat()) p.append(k, item);
  }
  return p.toString();
}

/** The inject options of a urlencoded form post. */
export const form = (values: FormValues) => ({
  payload: encode(values),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});

/**
 * POSTs parameters as an OAuth client does (token, revoke, introspect): Basic
 * when the client has a secret, else client_id in the body; no client when omitted.
 */
export function clientPost(app: FastifyInstance, url: string, params: Record<string, string>, client?: { id: string; secret?: string | null }) {
  const { payload, headers } = form(client && !client.secret ? { client_id: client.id, ...params } : params);
  return app.inject({ method: 'POST', url, payload, headers: client?.secret ? { ...headers, authorization: basic(client.id, client.secret) } : headers });
}

/** A registered client (makeClient) as clientPost's `client`. */
export const asAuth = (c: { client_id: string; secret: string | null }) => ({ id: c.client_id, secret: c.secret });

/** GETs a page as `who` (null: signed out). */
export function pageGet(t: Pick<TestContext, 'app'>, who: SignedIn | null, url: string) {
  return t.app.inject({ method: 'GET', url, headers: who ? { cookie: who.cookie } : {} });
}

/** POSTs a page's form as `who`, with the CSRF token the page would have rendered for `url` unless `_csrf` is given. */
export function pagePost(t: Pick<TestContext, 'app'>, who: SignedIn | null, url: string, values: FormValues = {}) {
  const { payload, headers } = form({ _csrf: who ? who.csrf(url) : undefined, ...values });
  return t.app.inject({ method: 'POST', url, payload, headers: who ? { ...headers, cookie: who.cookie } : headers });
}

/** The cookies a response set, as a Cookie header for the next request (merged over `previous`). */
export function cookiesFrom(setCookie: string | string[] | undefined, previous = ''): string {
  const jar = new Map<string, string>();
  for (const part of previous.split('; ').filter(Boolean)) {
    const i = part.indexOf('=');
    jar.set(part.slice(0, i), part.slice(i + 1));
  }
  for (const c of [setCookie ?? []].flat()) {
    const pair = c.split(';')[0]!;
    const i = pair.indexOf('=');
    const value = pair.slice(i + 1);
    if (value === '') jar.delete(pair.slice(0, i));
    else jar.set(pair.slice(0, i), value);
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
