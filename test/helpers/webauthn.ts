import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A software authenticator for tests without a browser: a P-256 key, "none"
 * attestation, and assertions signed the way a platform authenticator signs
 * them (WebAuthn §6.1, §6.5). The e2e test uses Chromium's virtual
 * authenticator instead.
 */
export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  counter = 0;
  /** The user handle it stores (a discoverable credential); set at registration. */
  userHandle?: string;

  constructor(
    private readonly rpId: string,
    private readonly origin: string,
    /** Flags: user present always; user verified unless told otherwise. */
    private readonly opts: { userVerified?: boolean } = {},
  ) {}

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  private flags(attested: boolean): number {
    return 0x01 | (this.opts.userVerified === false ? 0 : 0x04) | (attested ? 0x40 : 0);
  }

  private authData(attested: boolean): Buffer {
    const rpIdHash = createHash('sha256').update(this.rpId).digest();
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const head = Buffer.concat([rpIdHash, Buffer.from([this.flags(attested)]), counter]);
    if (!attested) return head;
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    return Buffer.concat([head, Buffer.alloc(16), idLength, this.credentialId, Buffer.from(cose)]);
  }

  private clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** The RegistrationResponseJSON navigator.credentials.create() would give for these options. */
  register(options: { challenge: string; user: { id: string } }, override: { origin?: string } = {}) {
    this.userHandle = options.user.id;
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', this.authData(true)]]) as never);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      clientExtensionResults: {},
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge, override.origin).toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        transports: ['internal'],
      },
    };
  }

  /** The AuthenticationResponseJSON navigator.credentials.get() would give; the counter moves on. */
  authenticate(options: { challenge: string }, override: { origin?: string; key?: KeyObject; counter?: number } = {}) {
    this.counter = override.counter ?? this.counter + 1;
    const authData = this.authData(false);
    const clientData = this.clientData('webauthn.get', options.challenge, override.origin);
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), override.key ?? this.keys.privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientData.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
    };
  }
}
