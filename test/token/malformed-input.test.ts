import { describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';

const t = useTestContext();

describe('malformed input at the token endpoint', () => {
  const raw = (payload: string, contentType: string) =>
    t.app.inject({ method: 'POST', url: '/oauth/token', payload, headers: { 'content-type': contentType } });

  it.each([
    ['a repeated parameter', 'grant_type=password&grant_type=client_credentials', 'application/x-www-form-urlencoded', 400],
    ['broken JSON', '{"grant_type":', 'application/json', 400],
    ['a JSON array', '["grant_type"]', 'application/json', 400],
    ['a JSON object value', '{"grant_type":{"a":1}}', 'application/json', 400],
    ['a plain-text body', 'grant_type=password', 'text/plain', 415],
    ['an XML body', '<grant_type/>', 'application/xml', 415],
    ['an oversized body', 'x='.padEnd(70_000, 'a'), 'application/x-www-form-urlencoded', 413],
  ])('answers %s with RFC-shaped invalid_request', async (_name, payload, type, status) => {
    const r = await raw(payload, type);
    expect(r.statusCode).toBe(status);
    expect(r.headers['content-type']).toContain('application/json');
    expect(Object.keys(r.json()).sort()).toEqual(['error', 'error_description']);
    expect(r.json().error).toBe('invalid_request');
    expect(r.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});
