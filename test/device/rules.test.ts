import { describe, expect, it } from 'vitest';
import { addSeconds } from '../../src/clock.js';
import { devicePollProblem, formatUserCode, newUserCode, normalizeUserCode, USER_CODE_ALPHABET } from '../../src/oauth/device.js';
import type { DevicePollState } from '../../src/store/device-codes.js';
import { testConfig } from '../helpers/app.js';

describe('user codes', () => {
  it('are 8 letters of the RFC 8628 consonant alphabet, every letter used, shown XXXX-XXXX', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const code = newUserCode();
      expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
      for (const ch of code) seen.add(ch);
    }
    expect([...seen].sort().join('')).toBe(USER_CODE_ALPHABET);
    expect(formatUserCode('BCDFGHJK')).toBe('BCDF-GHJK');
  });

  it('are read without regard to case, dashes or spaces; anything else is no code', () => {
    expect(normalizeUserCode('bcdf-ghjk')).toBe('BCDFGHJK');
    expect(normalizeUserCode(' BcDf ghjk ')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BCDFGHJK')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BC-DF-GH-JK')).toBe('BCDFGHJK');
    for (const bad of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-GHJK', 'BCDF-GHJ0', 'BCDF_GHJK', 'x'.repeat(33), 'BCDF-GHJ\u0000']) {
      expect(normalizeUserCode(bad)).toBeNull();
    }
  });
});

describe('devicePollProblem (RFC 8628 §3.5)', () => {
  const now = new Date(Date.UTC(2030, 0, 1));
  const client = '11111111-1111-1111-1111-111111111111';
  const state = (over: Partial<DevicePollState> = {}): DevicePollState => ({
    client_id: client,
    status: 'pending',
    expires_at: addSeconds(now, 300),
    last_polled_at: null,
    consumed_at: null,
    ...over,
  });
  const problem = (s: DevicePollState | undefined) => devicePollProblem(s, { clientUuid: client, now })?.code ?? null;

  it('pending: authorization_pending, or slow_down within 5 seconds of the previous poll', () => {
    expect(problem(state())).toBe('authorization_pending');
    expect(problem(state({ last_polled_at: addSeconds(now, -5) }))).toBe('authorization_pending');
    expect(problem(state({ last_polled_at: addSeconds(now, -4.9) }))).toBe('slow_down');
    expect(problem(state({ last_polled_at: now }))).toBe('slow_down');
  });

  it('denied: access_denied; expired (whatever the decision): expired_token', () => {
    expect(problem(state({ status: 'denied' }))).toBe('access_denied');
    expect(problem(state({ expires_at: now }))).toBe('expired_token');
    expect(problem(state({ status: 'approved', expires_at: addSeconds(now, -1) }))).toBe('expired_token');
  });

  it('unknown, another client\'s, or already claimed: invalid_grant; approved and unclaimed: none', () => {
    expect(problem(undefined)).toBe('invalid_grant');
    expect(problem(state({ client_id: '22222222-2222-2222-2222-222222222222' }))).toBe('invalid_grant');
    expect(problem(state({ status: 'approved', consumed_at: now }))).toBe('invalid_grant');
    expect(problem(state({ status: 'approved' }))).toBeNull();
  });
});

describe('LATCH_DEVICE_CODE_TTL', () => {
  it('defaults to 600 seconds and accepts 60 to 86400', () => {
    expect(testConfig().deviceCodeTtl).toBe(600);
    expect(testConfig({ LATCH_DEVICE_CODE_TTL: '900' }).deviceCodeTtl).toBe(900);
    expect(() => testConfig({ LATCH_DEVICE_CODE_TTL: '10' })).toThrow(/LATCH_DEVICE_CODE_TTL/);
    expect(() => testConfig({ LATCH_DEVICE_CODE_TTL: 'soon' })).toThrow(/LATCH_DEVICE_CODE_TTL/);
  });
});
