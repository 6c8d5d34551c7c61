import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import { addSeconds, type Clock } from '../clock.js';
import type { Database } from '../db/schema.js';
import { claimDueMail, giveUpMail, markMailFailed, markMailSent, releaseMail, type ClaimedMail } from '../store/mail-outbox.js';
import { MAX_ATTEMPTS, onMailEnqueued, retryDelaySeconds, type MailLog } from './outbox.js';
import { SMTP_TIMEOUTS, createMailTransport, describeSendError, type MailTransport, type SmtpTimeouts } from './transport.js';
import type { SmtpSettings } from './settings.js';

export interface MailSenderDeps {
  db: Kysely<Database>;
  clock: Clock;
  config: Pick<Config, 'smtp' | 'mailFrom' | 'siteName'>;
  log: MailLog;
}

export interface MailSenderOptions {
  /** How often to look for due mail another instance queued (ms); this process's own wakes the sender at once. */
  pollMs?: number;
  batch?: number;
  /** How long a stop lets a send in progress finish before cutting it off (ms). */
  stopGraceMs?: number;
  timeouts?: SmtpTimeouts;
}

/**
 * Delivers the outbox, off the request path: claims due mail, sends it one at a
 * time, marks it sent (dropping the bodies) or schedules a retry with backoff.
 */
export class MailSender {
  private readonly smtp: SmtpSettings;
  private readonly transport: MailTransport;
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly stopGraceMs: number;
  private readonly timeouts: SmtpTimeouts;
  /** Aborts the send in progress when a stop's grace has passed. */
  private readonly cutOff = new AbortController();
  private stopping = false;
  private woken = false;
  private endIdle: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: MailSenderDeps,
    options: MailSenderOptions = {},
  ) {
    if (!deps.config.smtp) throw new Error('MailSender needs LATCH_SMTP_URL');
    this.smtp = deps.config.smtp;
    this.timeouts = options.timeouts ?? SMTP_TIMEOUTS;
    this.transport = createMailTransport(this.smtp, this.timeouts);
    this.pollMs = options.pollMs ?? 5000;
    this.batch = options.batch ?? 10;
    this.stopGraceMs = options.stopGraceMs ?? 2000;
  }

  /** Every claimed mail is handed back or settled well within this (seconds). */
  private get leaseSeconds(): number {
    return Math.ceil((this.batch * this.timeouts.sendMs) / 1000) + 60;
  }

  start(): void {
    this.unsubscribe = onMailEnqueued(() => this.wake());
    this.loop = this.run();
  }

  /** Looks for due mail now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.endIdle?.();
  }

  /** Claims one batch of due mail and settles each; returns how many were claimed. */
  async runOnce(): Promise<number> {
    const { db, clock } = this.deps;
    const now = clock.now();
    const mails = await claimDueMail(db, now, addSeconds(now, this.leaseSeconds), this.batch);
    for (const mail of mails) {
      if (this.stopping) await releaseMail(db, mail, clock.now());
      else await this.deliver(mail);
    }
    return mails.length;
  }

  /** Stops polling; a send in progress gets `stopGraceMs`, then is cut off and handed back. */
  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.unsubscribe?.();
    this.endIdle?.();
    const grace = setTimeout(() => this.cutOff.abort(new Error('the server is stopping')), this.stopGraceMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(grace);
      this.transport.close();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.woken = false;
      let claimed = 0;
      try {
        claimed = await this.runOnce();
      } catch (err) {
        this.deps.log.warn({ err: { message: (err as Error).message } }, 'mail outbox: database error; will retry');
      }
      if (claimed < this.batch) await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.woken || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.endIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.endIdle = done;
    });
  }

  private async deliver(mail: ClaimedMail): Promise<void> {
    const { db, clock, config, log } = this.deps;
    const about = { id: mail.id, kind: mail.kind, attempt: mail.attempts };
    if (mail.expires_at && mail.expires_at <= clock.now()) {
      await giveUpMail(db, mail, clock.now(), 'its link expired before it could be sent');
      log.warn({ mail: about }, 'mail given up: its link expired before it could be sent');
      return;
    }
    try {
      await this.transport.sendMail({
        from: { name: config.mailFrom.name ?? config.siteName, address: config.mailFrom.address },
        to: mail.recipient,
        subject: mail.subject,
        text: mail.text_body,
        html: mail.html_body,
        signal: AbortSignal.any([this.cutOff.signal, AbortSignal.timeout(this.timeouts.sendMs)]),
      });
    } catch (err) {
      await this.failed(mail, err);
      return;
    }
    await markMailSent(db, mail, clock.now());
    log.info({ mail: about }, 'mail sent');
  }

  private async failed(mail: ClaimedMail, err: unknown): Promise<void> {
    const { db, clock, log } = this.deps;
    const about = { id: mail.id, kind: mail.kind, attempt: mail.attempts };
    if (this.cutOff.signal.aborted) {
      await releaseMail(db, mail, clock.now());
      log.warn({ mail: about }, 'mail send cut off by the stop; it will be tried again');
      return;
    }
    const error = describeSendError(err, this.smtp);
    // A recipient or message the server refuses for good would be refused again.
    const refused = (err as { permanent?: boolean; code?: string }).permanent === true && ['EENVELOPE', 'EMESSAGE'].includes((err as { code?: string }).code ?? '');
    if (refused || mail.attempts >= MAX_ATTEMPTS) {
      await giveUpMail(db, mail, clock.now(), error);
      log.error({ mail: about }, `mail given up after ${mail.attempts} attempt(s): ${error}`);
      return;
    }
    const next = addSeconds(clock.now(), retryDelaySeconds(mail.attempts));
    await markMailFailed(db, mail, next, error);
    log.warn({ mail: { ...about, retry_at: next.toISOString() } }, `mail not sent (${error}); will retry`);
  }
}

/**
 * Starts the sender when LATCH_SMTP_URL is set; returns its stop function
 * (a no-op without e-mail).
 */
export function startMailSender(deps: MailSenderDeps, options?: MailSenderOptions): () => Promise<void> {
  if (!deps.config.smtp) {
    deps.log.info('e-mail off (LATCH_SMTP_URL unset): no password-reset or verification mail');
    return async () => {};
  }
  const sender = new MailSender(deps, options);
  sender.start();
  deps.log.info({ smtp: deps.config.smtp.display }, `e-mail through ${deps.config.smtp.display}`);
  return () => sender.stop();
}
