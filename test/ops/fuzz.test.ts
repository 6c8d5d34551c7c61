import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { BODY_LIMIT } from '../../src/web/body-limit.js';
import { useTestContext } from '../helpers/app.js';
import { basic, makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';

/**
 * Random and hostile input at every endpoint: never a 5xx, never a crash, and
 * API answers are always RFC-shaped JSON. Runs are bounded so the suite stays fast;
 * a failure prints fast-check's seed and the shrunk input to replay it.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

const API = ['/oauth/token', '/oauth/device_authorization', '/oauth/revoke', '/oauth/introspect', '/oauth/userinfo', '/me', '/.well-known/oauth-authorization-server', '/healthz', '/readyz'];
/** Pages may not all exist on every branch; an absent one must still answer a clean 404. */
const PAGES = ['/oauth/authorize', '/device', '/login', '/logout', '/signup', '/account/apps', '/apps', '/admin/apps'];
const ENDPOINTS = [...API, ...PAGES];

const PARAM_NAMES = [
  'grant_type', 'code', 'redirect_uri', 'client_id', 'client_secret', 'refresh_token', 'username', 'password', 'scope',
  'state', 'token', 'token_type_hint', 'code_verifier', 'code_challenge', 'code_challenge_method', 'response_type',
  'decision', 'csrf', '_csrf', 'device_code', 'user_code', '__proto__', 'constructor', 'prototype', 'toString', '',
];
const GRANTS = ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:x', ''];

/** Strings an attacker would try: header injection, traversal, markup, SQL, huge, control bytes, bad escapes. */
const hostile = fc.constantFrom(
  'https://app.example/callback\r\nSet-Cookie: injected=1',
  'https://app.example/callback%0d%0aX-Injected:%201',
  'x\r\nX-Injected: 1',
  '%0D%0AX-Injected: 1',
  'javascript:alert(1)',
  '"><script>alert(1)</script>',
  "' or 1=1 --",
  '../../../../etc/passwd',
  '\u0000\u0001\u001f',
  '%',
  '%E0%A4%A',
  '%C3%28',
  '%FF%FE',
  '\uD800',
  'latch_at_' + 'A'.repeat(600),
  'a'.repeat(5000),
);
/** Real values (the client's id and redirect URI, response types) let requests get past the first checks. */
const known: string[] = ['code', 'token', 'S256', 'plain', 'read', 'read write', 'https://app.example/callback', 'urn:ietf:wg:oauth:2.0:oob', 'BCDF-GHJK', 'bcdfghjk'];
const value = () => fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), hostile, fc.constantFrom(...GRANTS), fc.constantFrom(...known));
const paramsArb = () => fc.dictionary(fc.constantFrom(...PARAM_NAMES), value(), { maxKeys: 8 });

const t = useTestContext();
let goodBasic: string;
let goodBearer: string;

beforeAll(async () => {
  const client = await makeClient(t, { grantTypes: ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'device_code'] });
  const user = await makeUser(t);
  goodBasic = basic(client.client_id, client.secret);
  known.push(client.client_id);
  const r = await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password }, asAuth(client));
  goodBearer = `Bearer ${r.json().access_token}`;
});

const authorization = () =>
  fc.oneof(
    fc.constant(undefined),
    fc.constant(goodBasic),
    fc.constant(goodBearer),
    fc.string({ maxLength: 80 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
    fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`),
    fc.string({ maxLength: 80 }).map((s) => s.replace(/[\r\n]/g, '')),
  );

const isApi = (url: string) => API.includes(url.split('?')[0]!);

/** The promises every answer keeps. */
function check(url: string, r: LightMyRequestResponse): void {
  expect(r.statusCode, `${url} answered ${r.statusCode}: ${r.body.slice(0, 300)}`).toBeLessThan(500);
  expect(r.body).not.toMatch(/\n\s+at .+:\d+:\d+/);
  for (const name of Object.keys(r.headers)) {
    expect(name).not.toMatch(/injected/i);
  }
  expect(String(r.headers['set-cookie'] ?? '')).not.toContain('injected');
  if (isApi(url) || r.headers['content-type']?.toString().startsWith('application/json')) {
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(r.body);
    // RFC 6750 §3.1: a request without credentials gets a bare challenge and no error code.
    const noCredentials = r.statusCode === 401 && r.headers['www-authenticate'] === 'Bearer realm="latch"';
    if (r.statusCode >= 400) {
      if (noCredentials) expect(body.error).toBeUndefined();
      else expect(body.error).toMatch(/^[a-z_]+$/);
      if ('error_description' in body) {
        expect(typeof body.error_description).toBe('string');
        // RFC 6749 §5.2: printable ASCII, without '"' and '\'.
        expect(body.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
      }
    }
  }
}

/** Byte-wise percent-encoding (lone surrogates too); values holding '%' go raw, to try bad escapes. */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
const formEncode = (p: Record<string, string>) =>
  Object.entries(p)
    .map(([k, v]) => `${pct(k)}=${/%/.test(v) ? v.replace(/[&\s#]/g, '') : pct(v)}`)
    .join('&');

describe('fuzzing every endpoint', () => {
  it('form bodies with random, hostile and repeated parameters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), paramsArb(), fc.array(fc.constantFrom(...PARAM_NAMES), { maxLength: 3 }), authorization(), async (url, p, repeated, auth) => {
        let payload = formEncode(p);
        for (const name of repeated) payload += `&${encodeURIComponent(name)}=dup&${encodeURIComponent(name)}=dup2`;
        const r = await t.app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
          payload,
        });
        check(url, r);
      }),
      { numRuns: RUNS },
    );
  });

  it('JSON bodies: random values, wrong types, prototype keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        fc.oneof(fc.json({ maxDepth: 4 }), paramsArb().map((p) => JSON.stringify(p)), fc.constant('{"__proto__":{"admin":true},"grant_type":"client_credentials"}')),
        authorization(),
        async (url, json, auth) => {
          const r = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, payload: json });
          check(url, r);
          expect(({} as Record<string, unknown>).admin).toBeUndefined();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('random bytes under every content type, including invalid UTF-8', async () => {
    const contentType = fc.constantFrom(
      'application/x-www-form-urlencoded',
      'application/json',
      'application/json; charset=latin1',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'application/x-www-form-urlencoded; charset=utf-16',
      '',
      '\u00ff/\u00fe',
      'application/json, application/x-www-form-urlencoded',
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), contentType, fc.uint8Array({ maxLength: 300 }), fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'PATCH'), async (url, type, bytes, method) => {
        const withBody = method !== 'GET';
        const r = await t.app.inject({
          method: method as 'POST',
          url,
          headers: type ? { 'content-type': type } : {},
          ...(withBody ? { payload: Buffer.from(bytes) } : {}),
        });
        check(url, r);
      }),
      { numRuns: RUNS },
    );
  });

  it('random query strings on GET, with hostile and repeated values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), paramsArb(), fc.boolean(), authorization(), async (url, p, repeat, auth) => {
        let query = formEncode(p);
        if (repeat) query += '&state=a&state=b&redirect_uri=x&redirect_uri=y';
        const target = `${url}?${query}`;
        const r = await t.app.inject({ method: 'GET', url: target, headers: auth ? { authorization: auth } : {} });
        check(target, r);
        // A redirect never carries a value that could split the header.
        const location = r.headers.location;
        if (location !== undefined) expect(String(location)).not.toMatch(/[\r\n]/);
      }),
      { numRuns: RUNS },
    );
  });

  it('oversized bodies and parameters get 413 or a clean 4xx, at the explicit limit', async () => {
    for (const url of ['/oauth/token', '/oauth/revoke', '/oauth/introspect', ...PAGES]) {
      const huge = await t.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: goodBasic },
        payload: `grant_type=client_credentials&scope=${'a'.repeat(BODY_LIMIT)}`,
      });
      check(url, huge);
      if (API.includes(url)) {
        expect(huge.statusCode).toBe(413);
        expect(huge.json().error).toBe('invalid_request');
      }
      const hugeJson = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token: 'x'.repeat(BODY_LIMIT + 1) }) });
      check(url, hugeJson);
    }
    // Just under the limit is parsed and refused for what it says, not for its size.
    const near = await t.app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: goodBasic },
      payload: `token=${'a'.repeat(BODY_LIMIT - 100)}`,
    });
    expect(near.statusCode).toBe(200);
    expect(near.json()).toEqual({ active: false });
  });

  it('deeply nested JSON is refused cleanly, not by a stack overflow', async () => {
    for (const depth of [100, 1000, 10_000, 30_000]) {
      for (const url of ['/oauth/token', '/oauth/introspect', '/oauth/revoke']) {
        const payload = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const r = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', authorization: goodBasic }, payload });
        check(url, r);
        expect(r.statusCode).toBe(depth * 6 > BODY_LIMIT ? 413 : 400);
        const arrays = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '['.repeat(depth) + ']'.repeat(depth) });
        check(url, arrays);
      }
    }
  });

  it('hostile headers: huge, repeated and odd Authorization and Cookie values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        fc.oneof(
          fc.constant('Basic ' + 'A'.repeat(20_000)),
          fc.constant('Basic Og=='),
          fc.constant('Basic ' + Buffer.from(':').toString('base64')),
          fc.constant('Basic ' + Buffer.from('%ZZ:%ZZ').toString('base64')),
          fc.constant('Basic ' + Buffer.from([0xff, 0xfe, 0x3a, 0xc3, 0x28]).toString('base64')),
          fc.constant('Bearer ' + 'x'.repeat(10_000)),
          fc.constant('bearer'),
          fc.constant('Digest username="x"'),
          fc.string({ maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ' ')),
        ),
        fc.string({ maxLength: 200 }).map((s) => s.replace(/[\r\n;]/g, '')),
        async (url, auth, cookie) => {
          const r = await t.app.inject({
            method: url === '/oauth/userinfo' || url === '/me' ? 'GET' : 'POST',
            url,
            headers: { authorization: auth, cookie: `latch_session=${cookie}; latch_session=${cookie}x`, 'content-type': 'application/x-www-form-urlencoded' },
            payload: 'grant_type=client_credentials&token=x',
          });
          check(url, r);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('still serves normal requests after all that', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: goodBasic, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials',
    });
    expect(r.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/me', headers: { authorization: goodBearer } })).statusCode).toBe(200);
  });
});
