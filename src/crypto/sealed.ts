import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for secrets latch must read back (private signing keys,
 * later TOTP secrets): AES-256-GCM under a key derived from LATCH_KEY_SECRET.
 *
 * Stored form: `v1.` + base64url(nonce ‖ ciphertext ‖ tag). The version prefix
 * lets a later format (or a re-keyed secret) live beside this one.
 */

/** What a sealed value is for; each purpose gets its own derived key, so one cannot open another's values. */
export type SealPurpose = 'signing-key' | 'totp-secret';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** A fixed salt: the input is already a high-entropy secret (RFC 5869 §3.1 allows it). */
const SALT = Buffer.from('latch sealed v1');

/** A sealed value that does not open: altered, truncated, or sealed under another secret or purpose. */
export class SealedValueError extends Error {}

export interface Sealer {
  /** `context` (e.g. the row's id) is authenticated too, so a sealed value cannot be moved to another row. */
  seal(plaintext: string, context?: string): string;
  open(sealed: string, context?: string): string;
}

export function sealer(secret: string, purpose: SealPurpose): Sealer {
  const key = Buffer.from(hkdfSync('sha256', secret, SALT, `latch:${purpose}`, 32));
  const aad = (context: string | undefined) => Buffer.from(`${VERSION}\0${context ?? ''}`);
  return {
    seal(plaintext, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, data, ...rest] = sealed.split('.');
      if (version !== VERSION || data === undefined || rest.length > 0) {
        throw new SealedValueError(`sealed value has an unknown format (expected ${VERSION})`);
      }
      const raw = Buffer.from(data, 'base64url');
      if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SealedValueError('sealed value is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(context));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SealedValueError('sealed value failed authentication (altered, or sealed under another LATCH_KEY_SECRET)');
      }
    },
  };
}
