import { beforeAll, describe, expect, it } from 'vitest';
import { THROTTLE_POLICY } from '../../src/accounts/throttle.js';
import { useTestContext, type TestContext } from '../helpers/app.js';
import { basic, makeClient } from '../helpers/fixtures.js';

/** Failed password-grant sign-ins from one forwarded address, each for a new account. */
async function failFrom(t: TestContext, client: { client_id: string; secret: string }, forwardedFor: string, n: number, tag: string) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      remoteAddress: '127.0.0.1',
      headers: { authorization: basic(client.client_id, client.secret), 'x-forwarded-for': forwardedFor },
      payload: { grant_type: 'password', username: `nobody-${tag}-${i}`, password: 'wrong password' },
    });
    statuses.push(r.statusCode);
  }
  return statuses;
}

describe('LATCH_TRUST_PROXY and per-address throttling', () => {
  const behindProxy = useTestContext({ LATCH_TRUST_PROXY: '127.0.0.1' });
  const direct = useTestContext();
  let clientA: Awaited<ReturnType<typeof makeClient>>;
  let clientB: Awaited<ReturnType<typeof makeClient>>;
  beforeAll(async () => {
    clientA = await makeClient(behindProxy, { grantTypes: ['password'] });
    clientB = await makeClient(direct, { grantTypes: ['password'] });
  });

  it('counts failures per forwarded client address when the proxy is trusted', async () => {
    const first = await failFrom(behindProxy, clientA, '198.51.100.7', THROTTLE_POLICY.addressFreeFailures + 1, 'a');
    expect(first.slice(0, THROTTLE_POLICY.addressFreeFailures).every((s) => s === 400)).toBe(true);
    expect((await failFrom(behindProxy, clientA, '198.51.100.7', 1, 'b'))[0]).toBe(429);
    // Another client behind the same proxy is not blocked by the first one's failures.
    expect((await failFrom(behindProxy, clientA, '198.51.100.8', 1, 'c'))[0]).toBe(400);
  });

  it('ignores X-Forwarded-For by default, so a client cannot escape its block by inventing addresses', async () => {
    await failFrom(direct, clientB, '203.0.113.1', THROTTLE_POLICY.addressFreeFailures + 1, 'd');
    expect((await failFrom(direct, clientB, '203.0.113.99', 1, 'e'))[0]).toBe(429);
  });

  it('refuses a malformed LATCH_TRUST_PROXY at start', async () => {
    const { loadConfig } = await import('../../src/config.js');
    expect(() => loadConfig({ LATCH_TRUST_PROXY: 'yes please' })).toThrow(/^LATCH_TRUST_PROXY: expected true, false, or the proxies' comma-separated addresses/);
    expect(loadConfig({ LATCH_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(loadConfig({}).trustProxy).toBe(false);
  });
});
