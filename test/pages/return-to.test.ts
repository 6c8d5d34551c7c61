import { beforeAll, describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../src/web/pages.js';
import { useTestContext } from '../helpers/app.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs } from '../helpers/session.js';

const ORIGIN = 'https://latch.example';

/** Values that a browser following `Location: <value>` from ORIGIN would take elsewhere, or that only a lenient parser keeps local. */
const ATTACKS = [
  '/.//evil.example/phish',
  '/..//evil.example/phish',
  '/%2e//evil.example/phish',
  '/%2E%2E//evil.example/phish',
  '/a/..//evil.example/phish',
  '/./\\evil.example',
  '//evil.example/x',
  '///evil.example/x',
  '/\\evil.example',
  '\\\\evil.example',
  '/%5cevil.example',
  '/%5Cevil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r\n/evil.example',
  '\t//evil.example',
  ' //evil.example',
  'https://evil.example/',
  'http:/evil.example',
  'HTTPS://evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'evil.example',
  '',
];

/** What a browser does with a Location header sent from ORIGIN. */
const follow = (location: string) => new URL(location, ORIGIN);

describe('return_to: one check on the value actually redirected to', () => {
  it('refuses every attack string in the table (answers the home page)', () => {
    for (const attack of ATTACKS) expect(safeReturnTo(attack), JSON.stringify(attack)).toBe('/');
    for (const other of [undefined, null, 42, ['/a'], { a: 1 }]) expect(safeReturnTo(other)).toBe('/');
  });

  it('keeps same-origin paths, normalised, with query and fragment', () => {
    expect(safeReturnTo('/oauth/authorize?client_id=a&state=b')).toBe('/oauth/authorize?client_id=a&state=b');
    expect(safeReturnTo('/apps/./x/../y#z')).toBe('/apps/y#z');
    expect(safeReturnTo('/a?next=//evil.example')).toBe('/a?next=//evil.example');
  });

  it('whatever comes back stays on this origin when a browser follows it', () => {
    for (const value of [...ATTACKS, '/account/apps', '/a/b/../c?d=%2F%2Fe']) {
      const out = safeReturnTo(value);
      expect(out.startsWith('/') && !out.startsWith('//') && !out.includes('\\')).toBe(true);
      expect(follow(out).origin, JSON.stringify(value)).toBe(ORIGIN);
    }
  });

  describe('over HTTP, signed in', () => {
    const t = useTestContext({ LATCH_SIGNUP: 'open' });
    let cookie: string;
    beforeAll(async () => {
      cookie = (await signedInAs(t, (await makeUser(t)).id)).cookie;
    });

    for (const path of ['/login', '/signup']) {
      it(`GET ${path} never redirects off-site`, async () => {
        for (const attack of ATTACKS.filter(Boolean)) {
          const r = await t.app.inject({ method: 'GET', url: `${path}?return_to=${encodeURIComponent(attack)}`, headers: { cookie } });
          expect(r.statusCode, attack).toBe(302);
          const location = String(r.headers.location);
          expect(follow(location).origin, `${attack} -> ${location}`).toBe(ORIGIN);
          expect(location.startsWith('//') || location.includes('\\'), location).toBe(false);
        }
        // Raw (unencoded) forms as an attacker would type them into the URL.
        for (const raw of ['/.//evil.example/phish', '/..//evil.example/phish', '/%2e//evil.example/phish']) {
          const r = await t.app.inject({ method: 'GET', url: `${path}?return_to=${raw}`, headers: { cookie } });
          expect(r.headers.location, raw).not.toMatch(/^\/\//);
        }
      });
    }
  });
});
