import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { digest } from '../../src/crypto/secrets.js';
import { withClock } from '../helpers/clock.js';
import { testDatabase, type TestDatabase } from '../helpers/db.js';
import { cli } from '../helpers/cli.js';

let t: TestDatabase;
/** Each test starts at TEST_EPOCH on a clock of its own. */
const clock = withClock();
const run = (argv: string[], extra: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) =>
  cli(argv, { clock, openDb: async () => ({ ...t, close: async () => {} }), ...extra });

beforeAll(async () => {
  t = await testDatabase();
});
afterAll(() => t.close());

describe('bin/latch user create', () => {
  it('prints {"id","username"} with --json and stores only an argon2id hash', async () => {
    const r = await run(['user', 'create', '--username', 'carol', '--password', 'pw-for-c-123', '--email', 'c@example.com', '--json']);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json)).toEqual(['id', 'username']);
    expect(r.json.username).toBe('carol');
    const row = await t.db.selectFrom('users').selectAll().where('id', '=', r.json.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(row.password_hash).not.toContain('pw-for-c-123');
    expect(row.email).toBe('c@example.com');
  });

  it('reads the password from stdin with --password-stdin and marks --admin', async () => {
    const r = await run(['user', 'create', '--username', 'root-admin', '--password-stdin', '--admin', '--json'], { stdin: 'from stdin pw\n' });
    expect(r.code).toBe(0);
    const row = await t.db.selectFrom('users').selectAll().where('id', '=', r.json.id).executeTakeFirstOrThrow();
    expect(row.is_admin).toBe(true);
  });

  it('refuses a taken username, case-insensitively, with one line and exit 1', async () => {
    const r = await run(['user', 'create', '--username', 'CAROL', '--password', 'x-another-pw']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`latch: database: ${t.description}\nlatch user create: username: is already taken\n`);
  });

  it('refuses both or neither password option with exit 2', async () => {
    expect((await run(['user', 'create', '--username', 'dan'])).code).toBe(2);
    const both = await run(['user', 'create', '--username', 'dan', '--password', 'a', '--password-stdin']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --password and --password-stdin');
  });
});

describe('bin/latch client', () => {
  let clientId: string;
  let secret: string;

  it('create --json prints client_id and the secret first, stores only the digest', async () => {
    const r = await run([
      'client', 'create', '--name', 'Dashboard', '--redirect-uri', 'https://dash.example/cb',
      '--redirect-uri', 'urn:ietf:wg:oauth:2.0:oob', '--scope', 'read', '--owner', 'carol', '--json',
    ]);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json).slice(0, 2)).toEqual(['client_id', 'client_secret']);
    expect(r.json).toMatchObject({
      name: 'Dashboard',
      status: 'active',
      owner: 'carol',
      confidential: true,
      redirect_uris: ['https://dash.example/cb', 'urn:ietf:wg:oauth:2.0:oob'],
      scopes: ['read'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    clientId = r.json.client_id;
    secret = r.json.client_secret;
    expect(secret).toMatch(/^latch_cs_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(row.secret_digest).toBe(digest(secret));
    const dump = JSON.stringify(await sql`select * from clients`.execute(t.db));
    expect(dump).not.toContain(secret);
  });

  it('create --public makes a client without a secret', async () => {
    const r = await run(['client', 'create', '--name', 'Phone', '--redirect-uri', 'com.example.phone:/cb', '--public', '--json']);
    expect(r.code).toBe(0);
    expect(r.json.client_secret).toBeNull();
    expect(r.json.confidential).toBe(false);
  });

  it.each([
    [['--name', 'X', '--redirect-uri', 'http://example.com/cb'], /redirect_uris: .*must use https/],
    [['--name', 'X', '--redirect-uri', 'https://a.example/cb#frag'], /must not contain a fragment/],
    [['--name', 'X', '--redirect-uri', 'https://a.example/cb', '--scope', 'admin'], /scopes: unknown scope admin/],
    [['--name', 'X', '--redirect-uri', 'https://a.example/cb', '--public', '--grant-types', 'client_credentials'], /public clients cannot use client_credentials/],
    [['--name', 'X'], /redirect_uris: at least one is needed/],
  ])('create refuses bad input %j with one line', async (args, message) => {
    const r = await run(['client', 'create', ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    // One line for the refusal, after the one naming the database.
    expect(r.stderr.trim().split('\n')).toEqual([`latch: database: ${t.description}`, expect.stringMatching(message)]);
  });

  it('list --json shows status and owner and never a secret', async () => {
    const r = await run(['client', 'list', '--json']);
    expect(r.code).toBe(0);
    const mine = r.json.clients.find((c: any) => c.client_id === clientId);
    expect(mine).toMatchObject({ status: 'active', owner: 'carol' });
    expect(r.stdout).not.toContain('latch_cs_');
    expect(r.stdout).not.toContain('secret_digest');
  });

  it('show prints the client and its decisions without the secret', async () => {
    const r = await run(['client', 'show', clientId, '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ client_id: clientId, name: 'Dashboard', decisions: [] });
    expect(r.stdout).not.toContain(secret);
  });

  it('suspend, then approve is refused, reinstate works, and each decision is recorded', async () => {
    expect((await run(['client', 'suspend', clientId, '--reason', 'abuse', '--json'])).json).toEqual({ client_id: clientId, status: 'suspended' });
    clock.advance(60);
    const refused = await run(['client', 'approve', clientId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cannot approve a client that is suspended');
    expect((await run(['client', 'reinstate', clientId, '--json'])).json.status).toBe('active');
    const shown = await run(['client', 'show', clientId, '--json']);
    expect(shown.json.decisions.map((d: any) => [d.decision, d.reason])).toEqual([
      ['suspend', 'abuse'],
      ['reinstate', null],
    ]);
  });

  it('approve activates a pending client made in manual approval mode', async () => {
    const made = await run(['client', 'create', '--name', 'Pending', '--redirect-uri', 'https://p.example/cb', '--json'], {
      env: { LATCH_APP_APPROVAL: 'manual', LOG_LEVEL: 'silent' },
    });
    expect(made.json.status).toBe('pending');
    const denied = await run(['client', 'deny', made.json.client_id]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('reason: say why');
    const approved = await run(['client', 'approve', made.json.client_id, '--json']);
    expect(approved.json.status).toBe('active');
  });

  it('update changes settings and validates them', async () => {
    const r = await run(['client', 'update', clientId, '--name', 'Dash 2', '--skip-consent', '--access-token-ttl', '1209600', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ name: 'Dash 2', skip_consent: true, access_token_ttl: 1209600 });
    expect((await run(['client', 'update', clientId, '--redirect-uri', 'ftp://x/y'])).code).toBe(1);
  });

  it('--introspect grants and --no-introspect takes away the permission to introspect others\' tokens; show and list say it', async () => {
    const made = await run(['client', 'create', '--name', 'Orders API', '--grant-types', 'client_credentials', '--introspect', '--json']);
    expect(made.code).toBe(0);
    expect(made.json.may_introspect).toBe(true);
    const id = made.json.client_id as string;
    expect((await run(['client', 'show', id, '--json'])).json.may_introspect).toBe(true);
    const listed = (await run(['client', 'list', '--json'])).json.clients.find((c: any) => c.client_id === id);
    expect(listed.may_introspect).toBe(true);
    expect((await run(['client', 'show', id])).stdout).toContain("introspects:    any client's tokens");
    // An update that does not mention it leaves it alone.
    expect((await run(['client', 'update', id, '--name', 'Orders API v2', '--json'])).json.may_introspect).toBe(true);
    expect((await run(['client', 'update', id, '--no-introspect', '--json'])).json.may_introspect).toBe(false);
    expect((await t.db.selectFrom('clients').select('may_introspect').where('client_id', '=', id).executeTakeFirstOrThrow()).may_introspect).toBe(false);
    const both = await run(['client', 'update', id, '--introspect', '--no-introspect']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    // A client made without the flag may introspect only its own tokens.
    expect((await run(['client', 'create', '--name', 'Plain', '--grant-types', 'client_credentials', '--json'])).json.may_introspect).toBe(false);
  });

  it('rotate-secret prints a new secret once and replaces the stored digest', async () => {
    const r = await run(['client', 'rotate-secret', clientId, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.client_secret).toMatch(/^latch_cs_/);
    expect(r.json.client_secret).not.toBe(secret);
    const row = await t.db.selectFrom('clients').select('secret_digest').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(row.secret_digest).toBe(digest(r.json.client_secret));
  });

  it('answers an unknown client id with exit 1', async () => {
    const r = await run(['client', 'show', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`latch: database: ${t.description}\nlatch client show: no client with client_id "nope"\n`);
  });

  it('token create prints a latch_pat_ token once, stored as a digest, with no expiry by default', async () => {
    const r = await run(['token', 'create', '--client', clientId, '--user', 'carol', '--scope', 'read', '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ scope: 'read', expires_at: null });
    expect(r.json.token).toMatch(/^latch_pat_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.selectFrom('access_tokens').selectAll().where('token_digest', '=', digest(r.json.token)).executeTakeFirstOrThrow();
    expect(row.kind).toBe('personal');
    const withTtl = await run(['token', 'create', '--client', clientId, '--ttl', '3600', '--json']);
    expect(withTtl.json.expires_at).toBe(Math.floor(clock.now().getTime() / 1000) + 3600);
    const listed = await run(['token', 'list', '--client', clientId, '--json']);
    expect(listed.json.tokens).toHaveLength(2);
    expect(listed.stdout).not.toContain('latch_pat_');
    const revoked = await run(['token', 'revoke', r.json.id, '--client', clientId, '--json']);
    expect(revoked.json).toEqual({ id: r.json.id, revoked: true });
    expect((await run(['token', 'revoke', r.json.id, '--client', clientId])).code).toBe(1);
  });

  it('token create refuses scopes the app may not have', async () => {
    const r = await run(['token', 'create', '--client', clientId, '--scope', 'write']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("scope: must be among the app's scopes");
  });

  it('delete removes the client with its tokens', async () => {
    const r = await run(['client', 'delete', clientId, '--json']);
    expect(r.json).toEqual({ client_id: clientId, deleted: true });
    expect(await t.db.selectFrom('access_tokens').selectAll().execute()).toHaveLength(0);
    expect(await t.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).execute()).toHaveLength(0);
  });
});

describe('bin/latch misc', () => {
  it('migrate reports an up-to-date database', async () => {
    expect((await run(['migrate', '--json'])).json).toEqual({ applied: [] });
  });

  it('prune reports what it deleted', async () => {
    const r = await run(['prune', '--json']);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json.deleted).sort()).toEqual(
      ['access_tokens', 'account_links', 'audit_events', 'authorization_codes', 'device_codes', 'grants', 'login_attempts', 'mail_outbox', 'pending_signins', 'refresh_tokens', 'registration_tokens', 'sessions', 'signing_keys'],
    );
  });

  it('--help works on every command and the top level', async () => {
    for (const argv of [['--help'], ['client', 'create', '--help'], ['token', 'create', '--help'], ['prune', '--help']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: latch/);
    }
  });

  it('unknown commands and options give one line and exit 2', async () => {
    const a = await run(['frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe('latch: unknown command "frobnicate" (see latch --help)\n');
    const b = await run(['client', 'list', '--bogus']);
    expect(b.code).toBe(2);
    expect(b.stderr.trim().split('\n')).toHaveLength(1);
  });
});
