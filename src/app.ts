import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Config } from './config.js';
import type { Clock } from './clock.js';
import type { Database } from './db/schema.js';
import { loggerOptions } from './logger.js';
import { requestLogger } from './web/request-logger.js';
import { errorHandler, notFoundHandler } from './web/error-handler.js';
import { healthRoutes } from './routes/health.js';
import { BRAND_CSS, staticRoutes } from './routes/static.js';
import { dataDirLogo } from './web/brand.js';
import { installMetrics } from './routes/metrics.js';
import { installDraining } from './web/draining.js';
import { installAccessLog } from './web/access-log.js';
import { installSecurityHeaders, securityHeaderOptions } from './web/security-headers.js';
import { VIEWS_DIR } from './paths.js';
import { createMetricsRegistry } from './metrics.js';
import { tokenRoutes } from './routes/token.js';
import { userinfoRoutes } from './routes/userinfo.js';
import { metadataRoutes } from './routes/metadata.js';
import { authorizeRoutes } from './routes/authorize.js';
import { deviceRoutes } from './routes/device.js';
import { registrationRoutes } from './routes/registration.js';
import { loginRoutes } from './routes/login.js';
import { accountRoutes } from './routes/account.js';
import { homeRoutes } from './routes/home.js';
import { appRoutes } from './routes/apps.js';
import { adminRoutes } from './routes/admin.js';
import { signupRoutes } from './routes/signup.js';
import { rejectNul } from './web/reject-nul.js';
import { setClientCacheClock } from './store/clients.js';
import { setAuditLog } from './audit/record.js';
import { auditRoutes } from './routes/audit.js';
import { userAdminRoutes } from './routes/users.js';
import { installJsonParser } from './web/json-body.js';
import { BODY_LIMIT } from './web/body-limit.js';
import { capConnectionsPerAddress, timeoutOptions } from './web/connection-limits.js';
import { SigningKeys } from './oidc/keys.js';
import { jwksRoutes } from './routes/jwks.js';
import { securityRoutes } from './routes/security.js';
import { passkeyRoutes } from './routes/passkeys.js';
import { sealer, type Sealer } from './crypto/sealed.js';
import { BackchannelLogout } from './oidc/backchannel.js';
import { logoutRoutes } from './routes/logout.js';
import { recoveryRoutes } from './routes/recovery.js';
import { mailConfigured } from './mail/settings.js';

export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  clock: Clock;
  /** Signs cookies; server.ts resolves it from config or the data directory. */
  cookieSecret: string;
  /** Seals private signing keys; config.keySecret unless given (server.ts resolves it like the cookie secret). */
  keySecret?: string;
  /** The PostgreSQL pool behind `db`, when there is one: its use is exported as metrics. */
  pool?: pg.Pool;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: AppDeps;
    /** This instance's signing keys: cached, refreshed in the background once started. */
    signingKeys: SigningKeys;
    /** Seals TOTP secrets at rest under the key secret (purpose totp-secret). */
    totpSealer: Sealer;
    /** Tells relying parties that sessions ended (Back-Channel Logout); never waited on. */
    backchannelLogout: BackchannelLogout;
  }
  interface FastifyContextConfig {
    /** Errors on this route render the HTML error page instead of JSON. */
    page?: boolean;
  }
}

export interface BuildOptions {
  logger?: FastifyServerOptions['logger'] | boolean;
}

export async function buildApp(deps: AppDeps, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(deps.config.logLevel),
    bodyLimit: BODY_LIMIT,
    // Behind a reverse proxy, per-address throttling needs the client's address, not the proxy's.
    trustProxy: deps.config.trustProxy,
    // Parameters repeated in a query string come back as arrays; routes refuse them.
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    // src/web/draining.ts answers requests during a stop, RFC-shaped.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A request that never finishes must not hold its connection forever.
    ...timeoutOptions(deps.config.requestTimeout),
    // Request lines come from src/web/access-log.ts, at debug.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: requestLogger,
  });
  app.decorate('deps', deps);
  // Cached clients age by the app's clock, so tests move time instead of racing it.
  setClientCacheClock(deps.db, deps.clock);
  // Audit events are also one structured log line each (audit: true), for log pipelines.
  setAuditLog(app.log);
  if (deps.config.trustProxy === false) capConnectionsPerAddress(app.server, deps.config.maxConnectionsPerAddress);
  const keySecret = deps.keySecret ?? deps.config.keySecret;
  if (!keySecret) throw new Error('buildApp needs a key secret (LATCH_KEY_SECRET, or one resolved from the data directory)');
  const signingKeys = new SigningKeys({ db: deps.db, clock: deps.clock, config: deps.config, keySecret, log: app.log });
  app.decorate('signingKeys', signingKeys);
  app.addHook('onClose', async () => signingKeys.stop());
  app.decorate('totpSealer', sealer(keySecret, 'totp-secret'));
  const backchannelLogout = new BackchannelLogout({ db: deps.db, clock: deps.clock, config: deps.config, signer: signingKeys, log: app.log });
  app.decorate('backchannelLogout', backchannelLogout);
  // Deliveries under way may finish (each is bounded by its timeout) before the database closes.
  app.addHook('onClose', () => backchannelLogout.idle());

  // Only form and JSON bodies are accepted (and multipart at the token endpoints, src/routes/token.ts); anything else is a 415 invalid_request.
  app.removeContentTypeParser('text/plain');
  installJsonParser(app);
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  // No parsing hook: pages read cookies through src/web/signed-cookies.ts, which parses on first read.
  await app.register(cookie, { secret: deps.cookieSecret, hook: false });
  installSecurityHeaders(app, securityHeaderOptions(deps.config));
  const logo = dataDirLogo(deps.config);
  // Pages pass their data explicitly; declared here, reply.locals stays unset and
  // @fastify/view adds no hook of its own to every request (the token endpoint's too).
  app.decorateReply('locals', null);
  await app.register(view, {
    engine: { eta: new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true }) },
    templates: VIEWS_DIR,
    viewExt: 'eta',
    // signupOpen: the home and login pages offer /signup only when it exists; mailOn: the login page offers /forgot-password only with e-mail.
    // site: LATCH_SITE_NAME, LATCH_LOGO_URL (or a logo file in the data directory), LATCH_ACCENT_COLOR, for the layout of every page.
    defaultContext: {
      issuer: deps.config.issuer,
      signupOpen: deps.config.signup === 'open',
      mailOn: mailConfigured(deps.config),
      site: { name: deps.config.siteName, logoUrl: deps.config.logoUrl ?? logo?.path ?? null, accentCss: deps.config.accentColor ? BRAND_CSS : null },
    },
  });

  app.setErrorHandler(errorHandler);
  app.addHook('preValidation', rejectNul);
  app.setNotFoundHandler(notFoundHandler);
  installMetrics(app, createMetricsRegistry(deps.pool), deps.config.metricsToken);
  installDraining(app);
  installAccessLog(app);

  await app.register(healthRoutes);
  await app.register(staticRoutes, { logo });
  await app.register(metadataRoutes);
  await app.register(tokenRoutes);
  await app.register(jwksRoutes);
  await app.register(userinfoRoutes);
  await app.register(authorizeRoutes);
  await app.register(deviceRoutes);
  await app.register(registrationRoutes);
  await app.register(loginRoutes);
  await app.register(logoutRoutes);
  await app.register(homeRoutes);
  await app.register(accountRoutes);
  await app.register(securityRoutes);
  await app.register(passkeyRoutes);
  await app.register(appRoutes);
  await app.register(adminRoutes);
  await app.register(signupRoutes);
  await app.register(auditRoutes);
  await app.register(recoveryRoutes);
  await app.register(userAdminRoutes);
  return app;
}
