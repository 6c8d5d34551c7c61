import type { FastifyServerOptions } from 'fastify';
import pretty from 'pino-pretty';

/** Query parameters whose values are credentials; masked wherever a URL is logged. */
const SECRET_PARAMS = /([?&](?:code|access_token|refresh_token|token|client_secret|password|code_verifier|device_code|user_code)=)[^&#]*/gi;

export function maskUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[REDACTED]');
}

/** Every path that may carry a secret is redacted before pino writes a line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.secret',
  '*.client_secret',
  '*.code',
  '*.code_verifier',
  '*.device_code',
  '*.user_code',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.cookieSecret',
  '*.keySecret',
  'password',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'code',
  'device_code',
  'user_code',
];

/**
 * Readable lines for a person at a terminal; JSON everywhere else (a log
 * collector, a pipe, CI), which is what production reads.
 */
export function interactiveOutput(stdout: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stdout.isTTY === true && !env.CI;
}

export function loggerOptions(level: string, interactive = false): FastifyServerOptions['logger'] {
  return {
    level,
    ...(interactive ? { stream: pretty({ colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' }) } : {}),
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: {
      req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
        method: req.method,
        url: maskUrl(req.url),
        remoteAddress: req.ip,
      }),
    },
  };
}
