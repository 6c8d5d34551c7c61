import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type Bindings = Record<string, unknown>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Each request's logger (it carries reqId), made only when the request logs.
 * Fastify asks for a child logger on every request; pino builds one by
 * serializing its bindings through the redaction paths (src/logger.ts), about
 * 1 µs a request for a line that most requests never write. This stands in
 * for the child and makes it on first use. Fastify passes an options object,
 * empty unless a route sets its own level or serializers; those get a real
 * child at once, as do the children of Fastify's logger-off stand-in.
 */
export const requestLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options) {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options);
  // Fastify's stand-in when logging is off (`logger: false`) has no levels to ask: its children cost nothing.
  if (typeof (logger as { isLevelEnabled?: unknown }).isLevelEnabled !== 'function') return logger.child(bindings);
  return new DeferredChild(logger, bindings) as unknown as FastifyBaseLogger;
};

class DeferredChild {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly own: Bindings,
  ) {}

  private logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.own));
  }

  /** A line below the level is dropped without making the child, as pino's own no-op would. */
  private write(level: Level, args: unknown[]): void {
    if (!this.made && !this.isLevelEnabled(level)) return;
    (this.logger()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(level: string) {
    this.logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return ((this.made ?? this.parent) as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}
}
