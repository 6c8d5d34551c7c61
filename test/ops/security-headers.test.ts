import { describe, expect, it } from 'vitest';
import { securityHeaderOptions, securityHeaders } from '../../src/web/security-headers.js';
import { useTestContext, testConfig } from '../helpers/app.js';

const t = useTestContext();

describe('security headers, computed once', () => {
  it('are what helmet sets for latch\'s options', () => {
    const headers = Object.fromEntries(securityHeaders(securityHeaderOptions(testConfig())));
    expect(headers).toMatchObject({
      'content-security-policy': "default-src 'none';script-src 'self';connect-src 'self';style-src 'self';img-src 'self' data:;frame-ancestors 'none';base-uri 'none'",
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
      'x-content-type-options': 'nosniff',
    });
    expect(headers).not.toHaveProperty('strict-transport-security');
    const https = Object.fromEntries(securityHeaders(securityHeaderOptions(testConfig({ LATCH_ISSUER: 'https://auth.example' }))));
    expect(https['strict-transport-security']).toMatch(/^max-age=\d+/);
  });

  it('are on every answer: JSON, errors and pages alike', async () => {
    const expected = securityHeaders(securityHeaderOptions(t.config));
    for (const url of ['/healthz', '/no/such/path', '/login', '/oauth/authorize?client_id=nobody']) {
      const r = await t.app.inject({ method: 'GET', url });
      for (const [name, value] of expected) expect(r.headers[name], `${name} on ${url}`).toBe(value);
    }
  });
});
