import { createHash, randomBytes } from 'node:crypto';

/** A PKCE pair (RFC 7636 §4.1-4.2, S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const authorizeUrl = (params: Record<string, string>) => `/oauth/authorize?${new URLSearchParams(params)}`;

/** The value of a hidden input or other `name="…" value="…"` pair in a rendered page. */
export function field(html: string, name: string): string | undefined {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m ? decodeEntities(m[1]!) : undefined;
}

export function decodeEntities(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
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

export const form = (values: Record<string, string>) => ({
  payload: new URLSearchParams(values).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
