import { describe, expect, it } from 'vitest';
import { sealer, SealedValueError } from '../../src/crypto/sealed.js';

const SECRET = 's'.repeat(40);

/** Flips one bit of the decoded payload at `index` and re-encodes it. */
function flip(sealed: string, index: number): string {
  const [version, data] = sealed.split('.');
  const raw = Buffer.from(data!, 'base64url');
  raw[index] = raw[index]! ^ 0x01;
  return `${version}.${raw.toString('base64url')}`;
}

describe('sealed values (AES-256-GCM under an HKDF-derived key)', () => {
  const box = sealer(SECRET, 'signing-key');

  it('opens what it sealed, in a versioned form that does not contain the plaintext', () => {
    const sealed = box.seal('{"d":"private-part"}', 'kid-1');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('private-part');
    expect(box.open(sealed, 'kid-1')).toBe('{"d":"private-part"}');
  });

  it('uses a fresh 96-bit nonce each time: the same plaintext seals differently', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    expect(Buffer.from(a.slice(3), 'base64url').subarray(0, 12)).not.toEqual(Buffer.from(b.slice(3), 'base64url').subarray(0, 12));
    // 12-byte nonce + 4-byte ciphertext + 16-byte tag.
    expect(Buffer.from(a.slice(3), 'base64url')).toHaveLength(32);
  });

  it('refuses any altered byte (nonce, ciphertext or tag) with a clear error, never garbage', () => {
    const sealed = box.seal('secret material');
    const length = Buffer.from(sealed.slice(3), 'base64url').length;
    for (let i = 0; i < length; i++) {
      expect(() => box.open(flip(sealed, i))).toThrow(SealedValueError);
    }
    expect(() => box.open(flip(sealed, 0))).toThrow(/failed authentication/);
  });

  it('refuses a value moved to another context (row), another purpose or another secret', () => {
    const sealed = box.seal('x', 'kid-1');
    expect(() => box.open(sealed, 'kid-2')).toThrow(SealedValueError);
    expect(() => sealer(SECRET, 'totp-secret').open(sealed, 'kid-1')).toThrow(SealedValueError);
    expect(() => sealer('t'.repeat(40), 'signing-key').open(sealed, 'kid-1')).toThrow(SealedValueError);
  });

  it.each([
    ['an unknown version', 'v2.AAAA', /unknown format/],
    ['no version', 'AAAA', /unknown format/],
    ['extra parts', 'v1.AAAA.BBBB', /unknown format/],
    ['a truncated value', 'v1.AAAA', /truncated/],
  ])('refuses %s', (_name, value, message) => {
    expect(() => box.open(value)).toThrow(SealedValueError);
    expect(() => box.open(value)).toThrow(message);
  });

  it('never puts the secret or the plaintext in its errors', () => {
    const sealed = box.seal('plaintext-here');
    try {
      sealer('w'.repeat(40), 'signing-key').open(sealed);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('plaintext-here');
      expect((err as Error).message).not.toContain('w'.repeat(40));
    }
  });
});
