import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseMailFrom, parseSmtpUrl, type MailFrom, type SmtpSettings } from './mail/settings.js';

/** Thrown for a bad environment; its message is the one line the operator sees. */
export class ConfigError extends Error {}

const seconds = (what: string) =>
  z
    .string()
    .regex(/^\d+$/, `expected ${what} as a whole number of seconds`)
    .transform(Number);

const scopeList = z
  .string()
  .trim()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'expected space-separated scope names (RFC 6749 §3.3)')
  .transform((s) => s.split(' '));

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// connection string');

const env = z.object({
  DATABASE_URL: postgresUrl.optional(),
  /** off: behind a pooler in transaction mode (PgBouncer before 1.21), where a session's prepared statements are not its own. */
  LATCH_PREPARED_STATEMENTS: z.enum(['on', 'off'], { error: 'expected on or off' }).default('on'),
  /** A direct connection for LISTEN (client changes), when DATABASE_URL goes through a pooler in transaction mode. */
  LATCH_LISTEN_DATABASE_URL: postgresUrl.optional(),
  LATCH_DATA_DIR: z.string().min(1).default('./data'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z
    .string()
    .regex(/^\d+$/, 'expected a port number')
    .transform(Number)
    .refine((n) => n >= 0 && n <= 65535, 'expected a port number from 0 to 65535')
    .default(3000),
  LATCH_ISSUER: z
    .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' })
    .refine((u) => !u.includes('?') && !u.includes('#'), 'expected a URL without query or fragment')
    .optional(),
  LATCH_SCOPES: scopeList.default(['read', 'write']),
  LATCH_DEFAULT_SCOPE: scopeList.default(['read']),
  LATCH_ACCESS_TOKEN_TTL: seconds('a lifetime').default(7200),
  LATCH_REFRESH_TOKEN_TTL: seconds('a lifetime').default(2592000),
  LATCH_CODE_TTL: seconds('a lifetime').default(60),
  LATCH_DEVICE_CODE_TTL: seconds('a lifetime')
    .refine((n) => n >= 60 && n <= 86400, 'expected 60 to 86400 seconds')
    .default(600),
  LATCH_COOKIE_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  LATCH_KEY_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  LATCH_ID_TOKEN_TTL: seconds('a lifetime')
    .refine((n) => n > 0, 'expected a lifetime above 0 seconds')
    .default(3600),
  LATCH_KEY_ROTATION: seconds('an interval').default(0),
  LATCH_REFRESH_REUSE_GRACE: seconds('a grace period').default(0),
  LATCH_APP_APPROVAL: z.enum(['auto', 'manual'], { error: 'expected auto or manual' }).default('auto'),
  LATCH_SIGNUP: z.enum(['open', 'closed'], { error: 'expected open or closed' }).default('closed'),
  LATCH_REGISTRATION: z.enum(['closed', 'token', 'open'], { error: 'expected closed, token or open' }).default('closed'),
  LATCH_PRUNE_INTERVAL: seconds('an interval').default(0),
  LATCH_AUDIT_RETENTION: seconds('a retention').default(7776000),
  LATCH_TRUST_PROXY: z
    .string()
    .regex(
      /^(true|false|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/,
      'expected true, false, or the proxies\' comma-separated addresses/CIDRs',
    )
    .default('false'),
  // E-mail (src/mail/): parsed there, so the password is never kept as a URL string.
  LATCH_SMTP_URL: z.string().transform(zodParse(parseSmtpUrl)).optional(),
  LATCH_MAIL_FROM: z.string().default('latch@localhost').transform(zodParse(parseMailFrom)),
  LATCH_SITE_NAME: z
    .string()
    .trim()
    .regex(/^[^\x00-\x1f\x7f]{1,100}$/, 'expected a name of 1 to 100 characters on one line')
    .default('latch'),
  LATCH_LOGO_URL: z
    .url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL of an image' })
    .refine((u) => u.length <= 2000 && !/["'<>\s]/.test(u), 'expected an http(s) URL without quotes, spaces or angle brackets')
    .optional(),
  LATCH_ACCENT_COLOR: z.string().regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'expected a colour as #rgb or #rrggbb').optional(),
  LATCH_REQUEST_TIMEOUT: seconds('a timeout')
    .refine((n) => n >= 1 && n <= 3600, 'expected 1 to 3600 seconds')
    .default(30),
  LATCH_MAX_CONNECTIONS_PER_ADDRESS: z
    .string()
    .regex(/^\d+$/, 'expected a whole number (0: no cap)')
    .transform(Number)
    .default(256),
  LATCH_METRICS_TOKEN: z.string().min(16, 'expected at least 16 characters').optional(),
  LATCH_WORKERS: z
    .string()
    .regex(/^(auto|[1-9]\d{0,2})$/, 'expected a number of processes from 1 to 999, or auto (one per core)')
    .default('1'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

export interface Config {
  databaseUrl: string | undefined;
  /** Named prepared statements on PostgreSQL (LATCH_PREPARED_STATEMENTS). */
  preparedStatements: boolean;
  /** Where LISTEN connects, when not DATABASE_URL (LATCH_LISTEN_DATABASE_URL). */
  listenDatabaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  issuer: string;
  scopes: string[];
  defaultScope: string[];
  accessTokenTtl: number;
  refreshTokenTtl: number;
  codeTtl: number;
  /** Seconds a device authorization request (RFC 8628) lives. */
  deviceCodeTtl: number;
  /** Undefined only in embedded mode, where the server keeps one in the data directory. */
  cookieSecret: string | undefined;
  /** Undefined only in embedded mode, where the server keeps one in the data directory. */
  keySecret: string | undefined;
  idTokenTtl: number;
  /** Seconds between automatic signing-key rotations; 0: only `bin/latch keys rotate`. */
  keyRotation: number;
  refreshReuseGrace: number;
  appApproval: 'auto' | 'manual';
  signup: 'open' | 'closed';
  /**
   * Dynamic client registration (RFC 7591): closed (none), token (with an
   * initial access token from `bin/latch registration-token create`), or open.
   */
  registration: 'closed' | 'token' | 'open';
  pruneInterval: number;
  /** Seconds audit events are kept; prune deletes older ones. */
  auditRetention: number;
  logLevel: string;
  /**
   * Which X-Forwarded-For hops to believe when finding the client's address
   * (throttling, logs): false (none), true (all), or the proxies' addresses.
   */
  trustProxy: boolean | string[];
  /** Where latch's e-mail goes; undefined: no e-mail (see mailConfigured in src/mail/settings.ts). */
  smtp: SmtpSettings | undefined;
  mailFrom: MailFrom;
  /** The name people see in e-mails and on pages. */
  siteName: string;
  /** An image shown beside the name on every page (its origin is added to the CSP's img-src). */
  logoUrl: string | undefined;
  /** #rgb or #rrggbb: buttons and links on every page (served as /static/brand.css). */
  accentColor: string | undefined;
  /** Seconds a request's headers and body may take to arrive; then 408 and the connection closes. */
  requestTimeout: number;
  /** Open connections one address may hold (0: no cap); not applied behind a trusted proxy. */
  maxConnectionsPerAddress: number;
  /** When set, `GET /metrics` requires `Authorization: Bearer <it>`. */
  metricsToken: string | undefined;
  /** Processes serving HTTP (node:cluster); above 1 only on PostgreSQL. */
  workers: number;
}

/** Reads the environment. Empty strings count as unset, as shells often export them so. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(env.shape)) {
    const value = source[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = env.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    const shown = input[name] === undefined ? 'missing' : `"${name.includes('SECRET') || name === 'LATCH_METRICS_TOKEN' || name.endsWith('DATABASE_URL') || name === 'LATCH_SMTP_URL' ? '…' : input[name]}"`;
    throw new ConfigError(`${name}: ${issue.message} (got ${shown})`);
  }
  const e = parsed.data;
  const unknown = e.LATCH_DEFAULT_SCOPE.filter((s) => !e.LATCH_SCOPES.includes(s));
  if (unknown.length > 0) {
    throw new ConfigError(`LATCH_DEFAULT_SCOPE: expected scopes listed in LATCH_SCOPES (unknown: ${unknown.join(' ')})`);
  }
  if (e.DATABASE_URL && !e.LATCH_COOKIE_SECRET) {
    throw new ConfigError('LATCH_COOKIE_SECRET: required with DATABASE_URL (expected at least 32 random characters, e.g. from `openssl rand -hex 32`)');
  }
  if (e.DATABASE_URL && !e.LATCH_KEY_SECRET) {
    throw new ConfigError('LATCH_KEY_SECRET: required with DATABASE_URL (expected at least 32 random characters, e.g. from `openssl rand -hex 32`; every instance needs the same one)');
  }
  const workers = e.LATCH_WORKERS === 'auto' ? availableParallelism() : Number(e.LATCH_WORKERS);
  if (workers > 1 && !e.DATABASE_URL) {
    throw new ConfigError(
      `LATCH_WORKERS: the embedded database lives inside one process, so it serves from one; set DATABASE_URL to serve from ${workers} processes (got "${e.LATCH_WORKERS}")`,
    );
  }
  if (e.LATCH_LISTEN_DATABASE_URL && !e.DATABASE_URL) {
    throw new ConfigError('LATCH_LISTEN_DATABASE_URL: only with DATABASE_URL (the embedded database listens in its own process)');
  }
  const hostForUrl = e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST;
  return {
    databaseUrl: e.DATABASE_URL,
    preparedStatements: e.LATCH_PREPARED_STATEMENTS === 'on',
    listenDatabaseUrl: e.LATCH_LISTEN_DATABASE_URL,
    dataDir: e.LATCH_DATA_DIR,
    host: e.HOST,
    port: e.PORT,
    issuer: (e.LATCH_ISSUER ?? `http://${hostForUrl}:${e.PORT}`).replace(/\/+$/, ''),
    scopes: e.LATCH_SCOPES,
    defaultScope: e.LATCH_DEFAULT_SCOPE,
    accessTokenTtl: e.LATCH_ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.LATCH_REFRESH_TOKEN_TTL,
    codeTtl: e.LATCH_CODE_TTL,
    deviceCodeTtl: e.LATCH_DEVICE_CODE_TTL,
    cookieSecret: e.LATCH_COOKIE_SECRET,
    keySecret: e.LATCH_KEY_SECRET,
    idTokenTtl: e.LATCH_ID_TOKEN_TTL,
    keyRotation: e.LATCH_KEY_ROTATION,
    refreshReuseGrace: e.LATCH_REFRESH_REUSE_GRACE,
    appApproval: e.LATCH_APP_APPROVAL,
    signup: e.LATCH_SIGNUP,
    registration: e.LATCH_REGISTRATION,
    pruneInterval: e.LATCH_PRUNE_INTERVAL,
    auditRetention: e.LATCH_AUDIT_RETENTION,
    logLevel: e.LOG_LEVEL,
    trustProxy: parseTrustProxy(e.LATCH_TRUST_PROXY),
    requestTimeout: e.LATCH_REQUEST_TIMEOUT,
    maxConnectionsPerAddress: e.LATCH_MAX_CONNECTIONS_PER_ADDRESS,
    metricsToken: e.LATCH_METRICS_TOKEN,
    workers,
    smtp: e.LATCH_SMTP_URL,
    mailFrom: e.LATCH_MAIL_FROM,
    siteName: e.LATCH_SITE_NAME,
    logoUrl: e.LATCH_LOGO_URL,
    accentColor: e.LATCH_ACCENT_COLOR?.toLowerCase(),
  };
}

/** A parser that throws with a one-line message, as a zod transform (the message becomes the issue). */
function zodParse<T>(parse: (value: string) => T) {
  return (value: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  };
}

function parseTrustProxy(value: string): boolean | string[] {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value.split(',');
}
