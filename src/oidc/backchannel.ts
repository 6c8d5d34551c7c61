import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { JWTPayload } from 'jose';
import { epochSeconds, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { EndedSession } from '../accounts/sessions.js';
import type { ManageDeps } from '../manage/actor.js';
import { backchannelTargets, type BackchannelTarget } from '../store/logout.js';
import { SigningKeys } from './keys.js';

/** Back-Channel Logout 1.0 §2.6: the event a logout token carries. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How long a logout token is valid: it is delivered at once or not at all (§2.4 recommends minutes at most). */
export const LOGOUT_TOKEN_TTL_SECONDS = 120;
/** How long latch waits for one relying party to answer. */
export const BACKCHANNEL_TIMEOUT_MS = 5000;
/** Deliveries in flight at once, per instance: a logout storm cannot open unbounded connections. */
export const BACKCHANNEL_CONCURRENCY = 8;
/** Deliveries waiting beyond this are dropped (with a log line), so memory stays bounded. */
const MAX_QUEUED = 10_000;

export interface BackchannelDeps {
  db: Kysely<Database>;
  clock: Clock;
  config: Pick<Config, 'issuer'>;
  signer: Pick<SigningKeys, 'sign'>;
  log: { warn(obj: object, msg: string): void };
  timeoutMs?: number;
  concurrency?: number;
}

/** Back-Channel Logout 1.0 §2.4: what a logout token says; never a nonce. */
export function logoutTokenClaims(issuer: string, target: Pick<BackchannelTarget, 'client_id' | 'sid' | 'user_id'>, now: Date): JWTPayload {
  const iat = epochSeconds(now);
  return {
    iss: issuer,
    aud: target.client_id,
    iat,
    exp: iat + LOGOUT_TOKEN_TTL_SECONDS,
    jti: randomUUID(),
    sub: target.user_id,
    sid: target.sid,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  };
}

/**
 * Tells relying parties that sessions ended. `notify` returns at once: the
 * user's sign-out never waits on a relying party. Each delivery is one POST
 * with a timeout, a bounded number at a time; a failure is a log line naming
 * the client and the address, never the token.
 */
export class BackchannelLogout {
  private readonly queue: BackchannelTarget[] = [];
  private running = 0;
  private readonly waiting = new Set<() => void>();
  /** Deliveries in flight (`running` also counts look-ups). */
  constructor(private readonly deps: BackchannelDeps) {}

  /**
   * The notifier of the command line and other tools: the database, clock,
   * configuration and key secret are all it needs (no server).
   */
  static forManage(deps: ManageDeps & Pick<BackchannelDeps, 'log' | 'timeoutMs' | 'concurrency'> & { keySecret: string }): BackchannelLogout {
    const signer = new SigningKeys({ db: deps.db, clock: deps.clock, config: deps.config, keySecret: deps.keySecret });
    return new BackchannelLogout({ ...deps, signer });
  }

  /** What src/accounts/sessions.ts calls once sessions have ended (after their commit). */
  readonly notify = (ended: readonly EndedSession[]): void => {
    if (ended.length === 0) return;
    this.running++;
    void this.enqueue(ended.map((e) => e.sid))
      .catch((err: Error) => this.deps.log.warn({ err: { message: err.message } }, 'back-channel logout: could not look up the clients to tell'))
      .finally(() => this.done());
  };

  /** Resolves once nothing is queued or in flight (tests, and a stop that lets deliveries finish). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.add(resolve));
  }

  private async enqueue(sids: string[]): Promise<void> {
    const targets = await backchannelTargets(this.deps.db, sids);
    for (const target of targets) {
      if (this.queue.length >= MAX_QUEUED) {
        this.deps.log.warn({ client_id: target.client_id }, 'back-channel logout: too many deliveries waiting; this one is dropped');
        continue;
      }
      this.queue.push(target);
    }
    this.pump();
  }

  private pump(): void {
    const limit = this.deps.concurrency ?? BACKCHANNEL_CONCURRENCY;
    while (this.queue.length > 0 && this.delivering < limit) {
      const target = this.queue.shift()!;
      this.delivering++;
      this.running++;
      void this.deliver(target).finally(() => {
        this.delivering--;
        this.done();
        this.pump();
      });
    }
  }

  private delivering = 0;

  private done(): void {
    this.running--;
    if (this.running === 0 && this.queue.length === 0) {
      for (const resolve of this.waiting) resolve();
      this.waiting.clear();
    }
  }

  private async deliver(target: BackchannelTarget): Promise<void> {
    const { clock, config, signer, log } = this.deps;
    const where = { client_id: target.client_id, uri: target.backchannel_logout_uri };
    try {
      const token = await signer.sign(logoutTokenClaims(config.issuer, target, clock.now()), { alg: target.id_token_alg, typ: 'logout+jwt' });
      const response = await fetch(target.backchannel_logout_uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
        body: new URLSearchParams({ logout_token: token }).toString(),
        // A redirect is not an answer (§2.8): latch does not follow it elsewhere with the token.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.deps.timeoutMs ?? BACKCHANNEL_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (response.status !== 200 && response.status !== 204) {
        log.warn({ ...where, status: response.status }, 'back-channel logout: the client did not accept the logout token');
      }
    } catch (err) {
      const e = err as Error;
      const reason = e.name === 'TimeoutError' ? 'timed out' : ((e.cause as Error | undefined)?.message ?? e.message);
      log.warn({ ...where, reason }, 'back-channel logout: delivery failed');
    }
  }
}
