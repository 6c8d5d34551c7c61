/** Where latch's e-mail goes, from LATCH_SMTP_URL. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** smtps:// (TLS from the start); smtp:// upgrades with STARTTLS when the server offers it. */
  secure: boolean;
  user: string | undefined;
  /** Not enumerable: a logged or serialized config never carries it. */
  readonly password: string | undefined;
  /** `smtp://host:port` without credentials, for logs and messages. */
  display: string;
}

export interface MailFrom {
  /** The display name, when LATCH_MAIL_FROM gave one (`Name <address>`). */
  name: string | undefined;
  address: string;
}

const USAGE = 'expected smtp://[user:pass@]host:port or smtps://[user:pass@]host:port';

/** Parses LATCH_SMTP_URL; throws a one-line message that never repeats the value (it may hold a password). */
export function parseSmtpUrl(value: string): SmtpSettings {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(USAGE);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error(`${USAGE} (scheme ${url.protocol.replace(/:$/, '')} is not supported)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new Error(`${USAGE} (no host)`);
  // Query options would reach nodemailer's transport options (debug logging of whole messages, TLS checks off).
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new Error(`${USAGE} (no path, query or fragment)`);
  }
  const secure = url.protocol === 'smtps:';
  const port = url.port === '' ? (secure ? 465 : 587) : Number(url.port);
  let user: string | undefined;
  let password: string | undefined;
  try {
    user = url.username === '' ? undefined : decodeURIComponent(url.username);
    password = url.password === '' ? undefined : decodeURIComponent(url.password);
  } catch {
    throw new Error(`${USAGE} (bad %-encoding in the credentials)`);
  }
  if (password !== undefined && user === undefined) throw new Error(`${USAGE} (a password needs a user)`);
  const settings = {
    host,
    port,
    secure,
    user,
    display: `${url.protocol}//${url.host}${url.port === '' ? `:${port}` : ''}`,
  } as SmtpSettings;
  Object.defineProperty(settings, 'password', { value: password, enumerable: false });
  return settings;
}

const ADDRESS = /^[^\s@<>"(),:;[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** True for a plain `local@domain` address that is safe in a mail header. */
export function isMailAddress(value: string): boolean {
  return value.length <= 254 && ADDRESS.test(value);
}

/** Parses LATCH_MAIL_FROM: `address` or `Display Name <address>`. */
export function parseMailFrom(value: string): MailFrom {
  const v = value.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new Error('expected an e-mail address on one line');
  const named = /^(.*?)\s*<([^<>]*)>$/.exec(v);
  const address = named ? named[2]! : v;
  const name = named ? named[1]!.replace(/^"(.*)"$/, '$1').trim() : '';
  if (!isMailAddress(address) || /[<>]/.test(name)) {
    throw new Error('expected an e-mail address, e.g. latch@example.com or "Example <latch@example.com>"');
  }
  return { name: name === '' ? undefined : name, address };
}

/** Whether latch can send e-mail: without it, no self-service reset or verification. */
export function mailConfigured(config: { smtp: SmtpSettings | undefined }): boolean {
  return config.smtp !== undefined;
}
