import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { SignJWT, calculateJwkThumbprint, exportJWK, importJWK, type JWK, type JWTPayload } from 'jose';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { addSeconds } from '../clock.js';
import type { Config } from '../config.js';
import type { Database, SigningAlg, SigningKeyRow } from '../db/schema.js';
import { sealer, type Sealer } from '../crypto/sealed.js';
import * as store from '../store/signing-keys.js';
import { inTransaction } from '../store/transaction.js';
import { recordAudit } from '../audit/record.js';
import { OPERATOR } from '../audit/events.js';

/** Every algorithm latch signs with; each always has a current and a next key. */
export const SIGNING_ALGS: readonly SigningAlg[] = ['RS256', 'ES256', 'EdDSA'];
/** OpenID Connect's mandatory algorithm, used unless a client chose another. */
export const DEFAULT_SIGNING_ALG: SigningAlg = 'RS256';

/** How often an instance re-reads the keys, so all instances agree on the current key within this. */
export const KEY_REFRESH_SECONDS = 5;
/**
 * Added to a retired key's publication: an instance that has not yet seen the
 * rotation may sign with it for up to KEY_REFRESH_SECONDS (longer if its
 * database is briefly unreachable), and verifiers' clocks skew.
 */
export const RETIREMENT_MARGIN_SECONDS = 300;

export type PublicJwk = JWK & { kid: string; alg: SigningAlg; use: 'sig' };

/** A database key that will not open under this LATCH_KEY_SECRET: the operator's problem, said once, clearly. */
export class SigningKeyError extends Error {}

const generate = promisify(generateKeyPair);

/** A fresh key pair for `alg`, its private half sealed; the kid is its RFC 7638 thumbprint. */
export async function newSigningKey(alg: SigningAlg, seal: Sealer): Promise<store.NewSigningKey> {
  const pair =
    alg === 'RS256'
      ? await generate('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? await generate('ec', { namedCurve: 'P-256' })
        : await generate('ed25519');
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(pair.privateKey);
  return {
    kid,
    alg,
    public_jwk: JSON.stringify(publicJwk),
    private_jwk_sealed: seal.seal(JSON.stringify(privateJwk), kid),
  };
}

interface CurrentKey {
  kid: string;
  activatedAt: Date;
  key: CryptoKey;
}

/** What an instance signs with and publishes until its next refresh. */
interface Snapshot {
  jwks: { keys: PublicJwk[] };
  current: Map<SigningAlg, CurrentKey>;
}

export interface SigningKeysDeps {
  db: Kysely<Database>;
  clock: Clock;
  config: Pick<Config, 'idTokenTtl' | 'accessTokenTtl' | 'keyRotation'>;
  keySecret: string;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface SignOptions {
  alg?: SigningAlg;
  /** The JWS `typ` header: `JWT` for ID tokens, `at+jwt` for RFC 9068 access tokens, `logout+jwt`… */
  typ?: string;
}

const STATE_ORDER = { current: 0, next: 1, retired: 2 } as const;

/**
 * The signing keys of one instance: reads them from the database once, then in
 * the background every KEY_REFRESH_SECONDS; requests only ever see the cache.
 */
export class SigningKeys {
  private readonly seal: Sealer;
  private snapshot: Snapshot | undefined;
  private first: Promise<Snapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(private readonly deps: SigningKeysDeps) {
    this.seal = sealer(deps.keySecret, 'signing-key');
  }

  /** Creates whatever current and next keys are missing, for every algorithm. Safe when instances race. */
  async ensure(): Promise<void> {
    const { db, clock } = this.deps;
    const have = new Set((await store.liveSigningKeyStates(db)).map((k) => `${k.alg}/${k.state}`));
    const missing = SIGNING_ALGS.flatMap((alg) => (['current', 'next'] as const).filter((state) => !have.has(`${alg}/${state}`)).map((state) => ({ alg, state })));
    // Generated side by side (RSA takes seconds on a busy machine; node runs it off the main thread).
    const made = await Promise.all(missing.map(({ alg }) => newSigningKey(alg, this.seal)));
    for (const [i, { state }] of missing.entries()) {
      await store.insertSigningKeyIfAbsent(db, made[i]!, state, clock.now());
    }
  }

  /** Re-reads the published keys and imports the current private keys. */
  async refresh(): Promise<void> {
    this.snapshot = await this.load();
  }

  /** Keys exist and open under this secret. */
  async ready(): Promise<void> {
    await this.ensure();
    await this.refresh();
  }

  /** Server start: ready before the first request; then background refresh (and rotation). */
  async start(): Promise<void> {
    await this.ready();
    this.timer = setInterval(() => void this.tick(), KEY_REFRESH_SECONDS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The timer's work: rotate what is due (LATCH_KEY_ROTATION), then refresh. Failures keep the last keys. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.rotateDue();
      await this.refresh();
    } catch (err) {
      this.deps.log?.warn({ err: { message: (err as Error).message } }, 'signing keys: refresh failed; still using the last ones read');
    } finally {
      this.ticking = false;
    }
  }

  /** RFC 7517 JWK Set: current, next, and retired keys until their tokens have expired. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    return (await this.current()).jwks;
  }

  /** A compact JWS of `payload` under the algorithm's current key, its kid in the header. */
  async sign(payload: JWTPayload, options: SignOptions = {}): Promise<string> {
    const alg = options.alg ?? DEFAULT_SIGNING_ALG;
    const key = (await this.current()).current.get(alg);
    if (!key) throw new SigningKeyError(`no current ${alg} signing key`);
    return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid, typ: options.typ ?? 'JWT' }).sign(key.key);
  }

  /**
   * Promotes `alg`'s next key, retires its current key (published until the
   * last token it signed has expired) and creates a new next key. With
   * `minAgeSeconds`, only if the current key is at least that old, so two
   * instances rotating on a timer rotate once. Null when nothing was rotated.
   */
  async rotate(alg: SigningAlg, options: { minAgeSeconds?: number } = {}): Promise<store.Rotation | null> {
    const { db, clock, config } = this.deps;
    await this.ensure();
    const fresh = await newSigningKey(alg, this.seal);
    const now = clock.now();
    const longestToken = Math.max(config.idTokenTtl, config.accessTokenTtl, await store.longestClientAccessTokenTtl(db));
    // The audit event commits with the rotation, or neither does. The operator rotates by hand; LATCH_KEY_ROTATION by itself.
    const rotation = await inTransaction(db, async (trx) => {
      const done = await store.rotateSigningKey(trx, alg, fresh, {
        now,
        activatedBy: addSeconds(now, -(options.minAgeSeconds ?? 0)),
        deleteAfter: addSeconds(now, longestToken + RETIREMENT_MARGIN_SECONDS),
      });
      if (done) {
        await recordAudit(trx, {
          ...OPERATOR,
          at: now,
          action: 'key.rotate',
          target: alg,
          details: { alg, retired: done.retired, current: done.promoted, automatic: options.minAgeSeconds !== undefined },
        });
      }
      return done;
    });
    if (rotation) {
      this.deps.log?.info({ alg, retired: rotation.retired, current: rotation.promoted }, 'signing key rotated');
      await this.refresh();
    }
    return rotation;
  }

  /** LATCH_KEY_ROTATION: rotates each algorithm whose current key is older than the interval. */
  async rotateDue(): Promise<SigningAlg[]> {
    const interval = this.deps.config.keyRotation;
    if (interval <= 0 || !this.snapshot) return [];
    const due = addSeconds(this.deps.clock.now(), -interval);
    const rotated: SigningAlg[] = [];
    for (const [alg, key] of this.snapshot.current) {
      // The cache only says "maybe due"; the guarded statement decides, so a racing instance cannot double-rotate.
      if (key.activatedAt <= due && (await this.rotate(alg, { minAgeSeconds: interval }))) rotated.push(alg);
    }
    return rotated;
  }

  private async current(): Promise<Snapshot> {
    if (this.snapshot) return this.snapshot;
    // Only before the first load (tests and tools that never call start()): once, shared by concurrent callers.
    this.first ??= this.ensure()
      .then(() => this.load())
      .then((s) => (this.snapshot ??= s))
      .catch((err) => {
        this.first = undefined;
        throw err;
      });
    return this.first;
  }

  private async load(): Promise<Snapshot> {
    const rows = await store.listPublishedSigningKeys(this.deps.db, this.deps.clock.now());
    rows.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state]);
    const current = new Map<SigningAlg, CurrentKey>();
    for (const row of rows) {
      if (row.state !== 'current') continue;
      // A key already opened stays opened: a refresh costs one query, not a decryption and an import.
      const known = this.snapshot?.current.get(row.alg);
      const key = known?.kid === row.kid ? known.key : await this.openPrivateKey(row);
      current.set(row.alg, { kid: row.kid, activatedAt: row.activated_at!, key });
    }
    // Published before anything else: current first, for verifiers that naively take the first key.
    return { jwks: { keys: rows.map(publicJwk) }, current };
  }

  private async openPrivateKey(row: SigningKeyRow): Promise<CryptoKey> {
    let jwk: JWK;
    try {
      jwk = JSON.parse(this.seal.open(row.private_jwk_sealed, row.kid)) as JWK;
    } catch {
      throw new SigningKeyError(
        `LATCH_KEY_SECRET: the signing key ${row.kid} does not open under this secret (was the secret changed? every instance needs the same one)`,
      );
    }
    return (await importJWK(jwk, row.alg)) as CryptoKey;
  }
}

function publicJwk(row: SigningKeyRow): PublicJwk {
  return { ...(JSON.parse(row.public_jwk) as JWK), kid: row.kid, alg: row.alg, use: 'sig' };
}
