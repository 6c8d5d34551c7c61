import nodemailer from 'nodemailer';
import type { SmtpSettings } from './settings.js';

/** How long one SMTP exchange may wait on the server: short, so a hung server costs little. */
export interface SmtpTimeouts {
  connectionMs: number;
  greetingMs: number;
  socketMs: number;
  /** A whole send, however slowly the server dribbles its answers. */
  sendMs: number;
}

export const SMTP_TIMEOUTS: SmtpTimeouts = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 20_000, sendMs: 30_000 };

export type MailTransport = ReturnType<typeof createMailTransport>;

export function createMailTransport(smtp: SmtpSettings, timeouts: SmtpTimeouts = SMTP_TIMEOUTS) {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user === undefined ? undefined : { user: smtp.user, pass: smtp.password },
    connectionTimeout: timeouts.connectionMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    dnsTimeout: timeouts.connectionMs,
    // nodemailer's own logging could carry whole messages (and their links).
    logger: false,
    debug: false,
    // Messages are latch's own text; nothing in them should make nodemailer read files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
}

/**
 * One line about a failed send for logs and the outbox: the error's code and
 * message, with the SMTP password cut out should the server have echoed it.
 */
export function describeSendError(err: unknown, smtp: SmtpSettings): string {
  const e = err as { code?: string; message?: string };
  let line = `${e.code ?? 'error'}: ${e.message ?? String(err)}`.replace(/\s+/g, ' ').trim();
  for (const secret of [smtp.password, smtp.password && encodeURIComponent(smtp.password)]) {
    if (secret) line = line.split(secret).join('[REDACTED]');
  }
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
