import type { ParseArgsConfig } from 'node:util';
import type { Client } from '../db/schema.js';
import { epochSeconds } from '../clock.js';
import { createUser, findUserNamed } from '../manage/users.js';
import { OPERATOR } from '../manage/actor.js';
import {
  APP_DECISIONS,
  CLIENT_STATUSES,
  TRANSITIONS,
  clientOverview,
  createTestToken,
  decideClient,
  deleteClient,
  describeDecision,
  editClient,
  listClientsFor,
  listTestTokens,
  parseScopeList,
  registerClient,
  revokeTestToken,
  rotateClientSecret,
  type AppDecision,
} from '../manage/clients/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { prune } from '../housekeeping.js';
import { auditEventJson, findAuditEvents } from '../audit/query.js';
import { CliError, readSecret } from './io.js';
import { SIGNING_ALGS, SigningKeys } from '../oidc/keys.js';
import { listSigningKeys } from '../store/signing-keys.js';
import { resolveKeySecret } from '../cookie-secret.js';
import type { SigningAlg } from '../db/schema.js';
import type { CliContext } from './context.js';
import { createRegistrationToken, REGISTRATION_TOKEN_DEFAULTS } from '../oauth/registration/index.js';
import { userResetPassword } from './user-reset-password.js';
import { USER_COMMANDS } from './user-commands.js';

export interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  positionals?: number;
  /** False for `migrate`, which reports the migrations it runs itself. */
  autoMigrate?: boolean;
  run(ctx: CliContext): Promise<void>;
}

const str = (ctx: CliContext, name: string): string | undefined => ctx.values[name] as string | undefined;
const list = (ctx: CliContext, name: string): string[] | undefined => ctx.values[name] as string[] | undefined;

function seconds(ctx: CliContext, name: string): number | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new CliError(`--${name} expects a whole number of seconds above 0 (got "${v}")`, 2);
  return Number(v);
}

/** The client_id --client names, which the command requires. */
function clientOption(ctx: CliContext): string {
  const id = str(ctx, 'client');
  if (!id) throw new CliError('--client is required', 2);
  return id;
}

/** The user named by option `name`, when given. */
const userOption = async (ctx: CliContext, name: string) => {
  const username = str(ctx, name);
  return username ? findUserNamed(ctx, OPERATOR.actor, username) : undefined;
};

/** The public view of a client: everything but the secret. */
function clientView(c: Client, owner: string | null, registered = false) {
  return {
    client_id: c.client_id,
    name: c.name,
    description: c.description,
    website: c.website,
    status: c.status,
    status_reason: c.status_reason,
    owner,
    /** It registered itself (RFC 7591): it has no owner. */
    registered,
    confidential: c.is_confidential,
    redirect_uris: c.redirect_uris,
    scopes: c.scopes,
    grant_types: c.grant_types,
    skip_consent: c.skip_consent,
    may_introspect: c.may_introspect,
    access_token_ttl: c.access_token_ttl,
    refresh_token_ttl: c.refresh_token_ttl,
    ...oidcClientView(c),
    // RFC 9068 and RFC 8707
    access_token_format: c.access_token_format,
    resources: c.resources,
    created_at: epochSeconds(c.created_at),
  };
}

function describeClient(c: ReturnType<typeof clientView>): string {
  return [
    `client_id:      ${c.client_id}`,
    `name:           ${c.name}`,
    `status:         ${c.status}${c.status_reason ? ` (${c.status_reason})` : ''}`,
    `owner:          ${c.owner ?? (c.registered ? '- (registered itself)' : '-')}`,
    `type:           ${c.confidential ? 'confidential' : 'public'}`,
    `redirect URIs:  ${c.redirect_uris.join(' ') || '-'}`,
    `scopes:         ${c.scopes.join(' ')}`,
    `grant types:    ${c.grant_types.join(',')}`,
    `skip consent:   ${c.skip_consent ? 'yes' : 'no'}`,
    `introspects:    ${c.may_introspect ? "any client's tokens" : 'its own tokens only'}`,
    ...describeOidcClient(c),
    `access tokens:  ${c.access_token_format}`,
    `resources:      ${c.resources.join(' ') || '(any)'}`,
  ].join('\n');
}

/** OpenID Connect settings: how ID tokens are signed, and logout (RP-Initiated, Back-Channel). */
const oidcClientView = (c: Client) => ({
  id_token_alg: c.id_token_alg,
  post_logout_redirect_uris: c.post_logout_redirect_uris,
  backchannel_logout_uri: c.backchannel_logout_uri,
});

const describeOidcClient = (c: ReturnType<typeof oidcClientView>) => [
  `ID token alg:   ${c.id_token_alg}`,
  `post-logout:    ${c.post_logout_redirect_uris.join(' ') || '-'}`,
  `back-channel:   ${c.backchannel_logout_uri ?? '-'}`,
];

const oidcClientOptions = {
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'backchannel-logout-uri': { type: 'string' },
  'id-token-alg': { type: 'string' },
} as const;

/** --backchannel-logout-uri "" removes it; absent leaves it as it is. */
const oidcClientSettings = (ctx: CliContext) => ({
  postLogoutRedirectUris: list(ctx, 'post-logout-redirect-uri'),
  backchannelLogoutUri: str(ctx, 'backchannel-logout-uri') === '' ? null : str(ctx, 'backchannel-logout-uri'),
  idTokenAlg: str(ctx, 'id-token-alg'),
});

const clientSettingOptions = {
  name: { type: 'string' },
  description: { type: 'string' },
  website: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  scope: { type: 'string' },
  'grant-types': { type: 'string' },
  'skip-consent': { type: 'boolean' },
  introspect: { type: 'boolean' },
  'no-introspect': { type: 'boolean' },
  'access-token-ttl': { type: 'string' },
  'refresh-token-ttl': { type: 'string' },
  ...oidcClientOptions,
  'access-token-format': { type: 'string' },
  resource: { type: 'string', multiple: true },
} as const;

/** --introspect / --no-introspect: true, false, or undefined for "leave as it is". */
function introspectFlag(ctx: CliContext): boolean | undefined {
  const on = ctx.values.introspect === true;
  const off = ctx.values['no-introspect'] === true;
  if (on && off) throw new CliError('give --introspect or --no-introspect, not both', 2);
  return on ? true : off ? false : undefined;
}

function clientSettings(ctx: CliContext) {
  return {
    name: str(ctx, 'name'),
    description: str(ctx, 'description'),
    website: str(ctx, 'website'),
    redirectUris: list(ctx, 'redirect-uri'),
    scopes: parseScopeList(str(ctx, 'scope')),
    grantTypes: str(ctx, 'grant-types')?.split(',').map((g) => g.trim()).filter(Boolean),
    skipConsent: ctx.values['skip-consent'] as boolean | undefined,
    mayIntrospect: introspectFlag(ctx),
    accessTokenTtl: seconds(ctx, 'access-token-ttl'),
    refreshTokenTtl: seconds(ctx, 'refresh-token-ttl'),
    ...oidcClientSettings(ctx),
    accessTokenFormat: str(ctx, 'access-token-format'),
    resources: list(ctx, 'resource'),
  };
}

/** `client approve`, `client deny`, ...: one command per decision of the transition table. */
function decision(kind: AppDecision): Command {
  return {
    usage: TRANSITIONS[kind].reason === 'required' ? 'ID --reason TEXT' : 'ID [--reason TEXT]',
    summary: describeDecision(kind),
    positionals: 1,
    options: { reason: { type: 'string' } },
    async run(ctx) {
      const updated = await decideClient(ctx, OPERATOR, ctx.positionals[0]!, kind, { reason: str(ctx, 'reason') });
      ctx.print({ client_id: updated.client_id, status: updated.status }, `${updated.client_id}: ${updated.status}`);
    },
  };
}

export const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: '',
    summary: 'Runs every pending migration (the server also does this at start).',
    options: {},
    autoMigrate: false,
    async run(ctx) {
      const results = await migrateToLatest(ctx.db);
      const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
      ctx.print({ applied }, applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database is up to date');
    },
  },

  'user create': {
    usage: '--username U (--password P | --password-stdin) [--email E] [--admin]',
    summary:
      'Creates a user. --password-stdin reads the password from standard input, keeping it out of shell history: at a terminal it asks for it without echo. ' +
      'Passwords follow the sign-up rule: at least 10 characters, not the username.',
    options: {
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      email: { type: 'string' },
      admin: { type: 'boolean' },
    },
    async run(ctx) {
      const username = str(ctx, 'username');
      if (!username) throw new CliError('--username is required', 2);
      const fromStdin = ctx.values['password-stdin'] === true;
      if (fromStdin === (str(ctx, 'password') !== undefined)) throw new CliError('give exactly one of --password and --password-stdin', 2);
      const password = fromStdin ? await readSecret(ctx.io.stdin, ctx.io.stderr, `Password for ${username} (not shown): `) : str(ctx, 'password')!;
      const user = await createUser(ctx.db, ctx.clock, {
        username,
        password,
        email: str(ctx, 'email') ?? null,
        isAdmin: ctx.values.admin === true,
      });
      ctx.print({ id: user.id, username: user.username }, `created user ${user.username} (${user.id})${user.is_admin ? ', administrator' : ''}`);
    },
  },

  // recovery (issue 13)
  'user reset-password': userResetPassword,
  // user list|show|update|disable|enable|reset-second-factors|delete (src/cli/user-commands.ts)
  ...USER_COMMANDS,

  'client create': {
    usage:
      '--name N --redirect-uri URI... [--scope "read write"] [--grant-types authorization_code,refresh_token,password,client_credentials,implicit,device_code] [--public] [--skip-consent] [--introspect] [--access-token-ttl S] [--refresh-token-ttl S] [--access-token-format opaque|jwt] [--resource URI...] [--owner U] [--description D] [--website URL] [--post-logout-redirect-uri URI...] [--backchannel-logout-uri URI] [--id-token-alg RS256|ES256|EdDSA]',
    summary:
      'Registers a client. The secret is printed once: store it now. --redirect-uri repeats; urn:ietf:wg:oauth:2.0:oob is allowed. ' +
      "--introspect lets it introspect other clients' tokens (for a resource server); every client may introspect its own. " +
      '--access-token-format jwt issues RFC 9068 JWT access tokens; --resource repeats and limits the RFC 8707 resources its tokens may be for.',
    options: { ...clientSettingOptions, public: { type: 'boolean' }, owner: { type: 'string' } },
    async run(ctx) {
      const settings = clientSettings(ctx);
      if (!settings.name) throw new CliError('--name is required', 2);
      const owner = await userOption(ctx, 'owner');
      const { client, secret } = await registerClient(ctx, OPERATOR, {
        ...settings,
        name: settings.name,
        redirectUris: settings.redirectUris ?? [],
        confidential: ctx.values.public !== true,
        ownerId: owner?.id ?? null,
      });
      const view = clientView(client, owner?.username ?? null);
      const { client_id, ...rest } = view;
      ctx.print(
        { client_id, client_secret: secret, ...rest },
        `${describeClient(view)}\nclient_secret:  ${secret ?? '(public client: none)'}\n${secret ? '\nThe secret is shown only now. Store it safely.' : ''}`,
      );
    },
  },

  'client list': {
    usage: `[--status ${CLIENT_STATUSES.join('|')}] [--owner U]`,
    summary: 'Lists clients with their status and owner; never a secret.',
    options: { status: { type: 'string' }, owner: { type: 'string' } },
    async run(ctx) {
      const status = str(ctx, 'status');
      if (status && !(CLIENT_STATUSES as readonly string[]).includes(status)) {
        throw new CliError(`--status expects ${CLIENT_STATUSES.slice(0, -1).join(', ')} or ${CLIENT_STATUSES.at(-1)}`, 2);
      }
      const owner = await userOption(ctx, 'owner');
      const rows = await listClientsFor(ctx, OPERATOR.actor, { status: status as Client['status'] | undefined, ownerId: owner?.id });
      const views = rows.map((r) => clientView(r, r.owner_username, r.registered));
      ctx.print(
        { clients: views },
        views.length === 0
          ? 'no clients'
          : views.map((v) => `${v.client_id}  ${v.status.padEnd(9)}  ${(v.owner ?? (v.registered ? '(registered)' : '-')).padEnd(12)}  ${v.name}`).join('\n'),
      );
    },
  },

  'client show': {
    usage: 'ID',
    summary: 'Shows one client and its approval history; never the secret.',
    positionals: 1,
    options: {},
    async run(ctx) {
      const { client, authorizedUsers, decisions: history } = await clientOverview(ctx, OPERATOR.actor, ctx.positionals[0]!);
      const decisions = history.map((d) => ({
        decision: d.decision,
        reason: d.reason,
        decided_by: d.decided_by_username,
        decided_at: epochSeconds(d.decided_at),
      }));
      const view = clientView(client, client.owner_username, client.registered);
      ctx.print(
        { ...view, authorized_users: authorizedUsers, decisions },
        describeClient(view) +
          `\nauthorized by:  ${authorizedUsers} user${authorizedUsers === 1 ? '' : 's'}` +
          decisions.map((d) => `\n${new Date(d.decided_at * 1000).toISOString()}  ${d.decision}${d.reason ? `: ${d.reason}` : ''} (${d.decided_by ?? 'command line'})`).join(''),
      );
    },
  },

  'client update': {
    usage: 'ID [--name N] [--redirect-uri URI...] [--scope S] [--grant-types G,...] [--skip-consent] [--introspect|--no-introspect] [--access-token-ttl S] [--refresh-token-ttl S] [--access-token-format opaque|jwt] [--resource URI...] [--description D] [--website URL] [--post-logout-redirect-uri URI...] [--backchannel-logout-uri URI|""] [--id-token-alg A]',
    summary:
      "Changes a client's settings; --redirect-uri replaces the whole list. --no-introspect takes the introspection permission away. " +
      '--resource replaces the list of resources; --resource "" empties it (any resource).',
    positionals: 1,
    options: clientSettingOptions,
    async run(ctx) {
      const { before, after } = await editClient(ctx, OPERATOR, ctx.positionals[0]!, clientSettings(ctx));
      const view = clientView(after, before.owner_username);
      ctx.print(view, describeClient(view));
    },
  },

  ...Object.fromEntries(APP_DECISIONS.map((d) => [`client ${d}`, decision(d)])),

  'client rotate-secret': {
    usage: 'ID',
    summary: 'Replaces the client secret; the old one stops working at once. The new one is printed once.',
    positionals: 1,
    options: {},
    async run(ctx) {
      const { client, secret } = await rotateClientSecret(ctx, OPERATOR, ctx.positionals[0]!);
      ctx.print(
        { client_id: client.client_id, client_secret: secret },
        `client_id:      ${client.client_id}\nclient_secret:  ${secret}\n\nThe secret is shown only now. Store it safely.`,
      );
    },
  },

  'client delete': {
    usage: 'ID',
    summary: 'Deletes a client with every code, token and consent it had.',
    positionals: 1,
    options: {},
    async run(ctx) {
      const client = await deleteClient(ctx, OPERATOR, ctx.positionals[0]!);
      ctx.print({ client_id: client.client_id, deleted: true }, `deleted ${client.client_id}`);
    },
  },

  'token create': {
    usage: '--client ID [--user U] [--scope S] [--ttl S] [--label L]',
    summary: 'Creates a personal ("test") access token, printed once. It does not expire unless --ttl is given.',
    options: { client: { type: 'string' }, user: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string' }, label: { type: 'string' } },
    async run(ctx) {
      const clientId = clientOption(ctx);
      const user = await userOption(ctx, 'user');
      const { token } = await createTestToken(ctx, OPERATOR, clientId, {
        userId: user?.id ?? null,
        scope: parseScopeList(str(ctx, 'scope')),
        ttl: seconds(ctx, 'ttl'),
        label: str(ctx, 'label'),
      });
      const expiresAt = token.expires_at ? epochSeconds(token.expires_at) : null;
      ctx.print(
        { token: token.token, id: token.id, scope: token.scope, expires_at: expiresAt },
        `token:    ${token.token}\nid:       ${token.id}\nscope:    ${token.scope}\nexpires:  ${token.expires_at ? token.expires_at.toISOString() : 'never'}\n\nThe token is shown only now.`,
      );
    },
  },

  'token list': {
    usage: '--client ID [--user U]',
    summary: 'Lists an app\'s personal tokens (never the tokens themselves).',
    options: { client: { type: 'string' }, user: { type: 'string' } },
    async run(ctx) {
      const clientId = clientOption(ctx);
      const user = await userOption(ctx, 'user');
      const { tokens: rows } = await listTestTokens(ctx, OPERATOR.actor, clientId, { userId: user?.id });
      const tokens = rows.map((r) => ({
        id: r.id,
        label: r.label,
        user: r.username,
        scope: r.scope,
        created_at: epochSeconds(r.created_at),
        expires_at: r.expires_at ? epochSeconds(r.expires_at) : null,
        revoked: r.revoked_at !== null,
      }));
      ctx.print(
        { tokens },
        tokens.length === 0
          ? 'no personal tokens'
          : tokens.map((t) => `${t.id}  ${t.revoked ? 'revoked' : 'live   '}  ${(t.user ?? '-').padEnd(12)}  ${t.scope}  ${t.label ?? ''}`).join('\n'),
      );
    },
  },

  'token revoke': {
    usage: 'TOKEN_ID --client ID',
    summary: 'Revokes one personal token by the id `token list` shows.',
    positionals: 1,
    options: { client: { type: 'string' } },
    async run(ctx) {
      const tokenId = ctx.positionals[0]!;
      if (!/^[0-9a-f-]{36}$/i.test(tokenId)) throw new CliError(`"${tokenId}" is not a token id (see latch token list)`, 2);
      const { revoked } = await revokeTestToken(ctx, OPERATOR, clientOption(ctx), tokenId);
      if (!revoked) throw new CliError(`no live personal token ${tokenId} for that client`);
      ctx.print({ id: tokenId, revoked: true }, `revoked ${tokenId}`);
    },
  },

  prune: {
    usage: '',
    summary: 'Deletes expired codes and sessions, tokens expired or revoked over a day ago, and audit events older than LATCH_AUDIT_RETENTION, in small batches.',
    options: {},
    async run(ctx) {
      const counts = await prune(ctx.db, ctx.clock, ctx.config.auditRetention);
      ctx.print(
        { deleted: counts },
        Object.entries(counts)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
      );
    },
  },

  // ---- audit log (src/audit/) ----
  audit: {
    usage: '[--since S] [--until S] [--user U] [--client ID] [--action A] [--limit N] [--after CURSOR] [--json]',
    summary:
      'Lists audit events, newest first (default 100). S: epoch seconds, an age (30m, 24h, 7d), a date or a date and time (UTC). ' +
      '--user takes a username or user id; --action an action (signin.failure) or a group (signin.). --after continues from the cursor a previous page printed.',
    options: {
      since: { type: 'string' },
      until: { type: 'string' },
      user: { type: 'string' },
      client: { type: 'string' },
      action: { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
    },
    async run(ctx) {
      const filters = { since: str(ctx, 'since'), until: str(ctx, 'until'), user: str(ctx, 'user'), client: str(ctx, 'client'), action: str(ctx, 'action'), limit: str(ctx, 'limit'), after: str(ctx, 'after') };
      const page = await findAuditEvents(ctx.db, ctx.clock, filters, 100);
      const events = page.events.map(auditEventJson);
      const rows = page.events.map((e) =>
        [e.at.toISOString().slice(0, 19) + 'Z', e.actor.padEnd(14), e.action.padEnd(21), (e.target ?? '-').padEnd(24), (e.address ?? '-').padEnd(15), e.outcome].join('  '),
      );
      const header = ['time'.padEnd(20), 'actor'.padEnd(14), 'action'.padEnd(21), 'target'.padEnd(24), 'address'.padEnd(15), 'outcome'].join('  ');
      ctx.print(
        { events, next: page.next },
        events.length === 0 ? 'no events' : [header, ...rows, ...(page.next ? [`(more: --after ${page.next})`] : [])].join('\n'),
      );
    },
  },

  // ---- dynamic client registration ----

  'registration-token create': {
    usage: `[--uses N] [--ttl S] [--json]`,
    summary: `Creates an initial access token for POST /oauth/register under LATCH_REGISTRATION=token, printed once. It allows --uses registrations (default ${REGISTRATION_TOKEN_DEFAULTS.uses}) within --ttl seconds (default ${REGISTRATION_TOKEN_DEFAULTS.ttl}).`,
    options: { uses: { type: 'string' }, ttl: { type: 'string' } },
    async run(ctx) {
      const uses = str(ctx, 'uses');
      if (uses !== undefined && !/^\d+$/.test(uses)) throw new CliError(`--uses expects a whole number above 0 (got "${uses}")`, 2);
      const created = await createRegistrationToken(ctx, OPERATOR, { uses: uses === undefined ? undefined : Number(uses), ttl: seconds(ctx, 'ttl') });
      const note = ctx.config.registration === 'token' ? '' : `\nNote: LATCH_REGISTRATION is ${ctx.config.registration}; the server asks for this token only when it is "token".`;
      ctx.print(
        created,
        `token:    ${created.token}\nuses:     ${created.uses}\nexpires:  ${new Date(created.expires_at * 1000).toISOString()}\n\nThe token is shown only now. Send it as Authorization: Bearer <token> to POST /oauth/register.${note}`,
      );
    },
  },

  // ---- signing keys (OpenID Connect) ----

  'keys list': {
    usage: '',
    summary: 'Lists the signing keys: next (published, not yet signing), current (signing), retired (published until its tokens expire).',
    options: {},
    async run(ctx) {
      await printKeys(ctx);
    },
  },

  'keys rotate': {
    usage: '[--alg RS256|ES256|EdDSA]',
    summary:
      'Promotes the published next key to current, retires the current one (still published until the tokens it signed expire) and creates a new next key; every algorithm unless --alg. Running instances pick it up within seconds.',
    options: { alg: { type: 'string' } },
    async run(ctx) {
      const alg = str(ctx, 'alg');
      if (alg !== undefined && !SIGNING_ALGS.includes(alg as SigningAlg)) {
        throw new CliError(`--alg expects one of ${SIGNING_ALGS.join(', ')} (got "${alg}")`, 2);
      }
      const keys = new SigningKeys({ db: ctx.db, clock: ctx.clock, config: ctx.config, keySecret: resolveKeySecret(ctx.config) });
      for (const a of alg ? [alg as SigningAlg] : SIGNING_ALGS) await keys.rotate(a);
      await printKeys(ctx);
    },
  },
};

async function printKeys(ctx: CliContext): Promise<void> {
  const keys = (await listSigningKeys(ctx.db)).map((k) => ({ kid: k.kid, alg: k.alg, state: k.state, created_at: epochSeconds(k.created_at) }));
  ctx.print(
    { keys },
    keys.length === 0
      ? 'no signing keys yet (the server creates them when it starts)'
      : keys.map((k) => `${k.kid}  ${k.alg.padEnd(5)}  ${k.state.padEnd(7)}  ${new Date(k.created_at * 1000).toISOString()}`).join('\n'),
  );
}
