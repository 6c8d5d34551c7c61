import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { leftHalfHash } from '../../src/oidc/hashes.js';

describe('at_hash / c_hash', () => {
  it('matches OpenID Connect Core 1.0 Appendix A (RS256, SHA-256)', () => {
    // A.3: access_token → at_hash; A.4: code → c_hash.
    expect(leftHalfHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y', 'RS256')).toBe('77QmUPtjPfzWtF2AnpK9RQ');
    expect(leftHalfHash('Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk', 'RS256')).toBe('LDktKdoQak3Pk0cnXxCltA');
  });

  it('uses SHA-256 for ES256 and SHA-512 for EdDSA, left half, base64url', () => {
    const token = 'latch_at_example';
    expect(leftHalfHash(token, 'ES256')).toBe(leftHalfHash(token, 'RS256'));
    const sha512 = createHash('sha512').update(token).digest();
    expect(leftHalfHash(token, 'EdDSA')).toBe(sha512.subarray(0, 32).toString('base64url'));
    expect(Buffer.from(leftHalfHash(token, 'EdDSA'), 'base64url')).toHaveLength(32);
  });
});
