import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config.js';
import { useTestContext } from '../helpers/app.js';

const TOKEN = 'metrics-scrape-token-0123456789';

describe('LATCH_METRICS_TOKEN', () => {
  const t = useTestContext({ LATCH_METRICS_TOKEN: TOKEN });

  it('when set, GET /metrics answers 401 without the token', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="latch-metrics"');
    expect(r.body).not.toContain('latch_http_requests_total');
  });

  it('answers 401 invalid_token for a wrong token, of any length', async () => {
    for (const wrong of ['x', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
      const r = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${wrong}` } });
      expect(r.statusCode, wrong).toBe(401);
      expect(r.json().error).toBe('invalid_token');
      expect(r.body).not.toContain(TOKEN);
    }
    const basic = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    expect(basic.statusCode).toBe(401);
  });

  it('serves the metrics with Authorization: Bearer <token>', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.statusCode).toBe(200);
    expect(r.body).toContain('# TYPE latch_http_requests_total counter');
  });

  it('is unset by default (metrics stay open) and refuses a short token without echoing it', () => {
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(() => loadConfig({ LATCH_METRICS_TOKEN: 'short-secret' })).toThrow(ConfigError);
    expect(() => loadConfig({ LATCH_METRICS_TOKEN: 'short-secret' })).toThrow(/^LATCH_METRICS_TOKEN: expected at least 16 characters \(got "…"\)$/);
  });
});
