import type { TestContext } from '../helpers/app.js';
import type { SignedIn } from '../helpers/session.js';

export type FormValues = Record<string, string | string[] | undefined>;

/** A urlencoded body; arrays repeat the field, as checkboxes do. */
export function encode(values: FormValues): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) {
    for (const item of [v ?? []].flat()) p.append(k, item);
  }
  return p.toString();
}

export function get(t: TestContext, who: SignedIn | null, url: string) {
  return t.app.inject({ method: 'GET', url, headers: who ? { cookie: who.cookie } : {} });
}

/** POSTs a form as `who`, with the CSRF token a page would have rendered for `url` unless `_csrf` is given. */
export function post(t: TestContext, who: SignedIn | null, url: string, values: FormValues = {}) {
  const body = { _csrf: who ? who.csrf(url) : undefined, ...values };
  return t.app.inject({
    method: 'POST',
    url,
    payload: encode(body),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(who ? { cookie: who.cookie } : {}) },
  });
}

/** The text of the element with `id` (tags inside stripped, entities decoded); undefined when absent. */
export function byId(html: string, id: string): string | undefined {
  const m = new RegExp(`<(\\w+)[^>]*\\sid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  if (!m) return undefined;
  return m[2]!
    .replace(/<[^>]*>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

export const validApp = (overrides: FormValues = {}): FormValues => ({
  name: 'Photo Sync',
  description: 'Backs up photos',
  website: 'https://photosync.example',
  redirect_uris: 'https://photosync.example/callback\nhttp://127.0.0.1:8080/cb',
  scopes: ['read', 'write'],
  grant_types: ['authorization_code', 'refresh_token'],
  client_type: 'confidential',
  ...overrides,
});
