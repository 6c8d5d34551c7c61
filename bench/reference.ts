/**
 * The architectural limit of latch's design, for the benchmark: the least a
 * server of this shape must do per request, written without latch's store or
 * rules. Fastify with the same form parser; every token route checks a Basic
 * credential by SHA-256 and constant-time compare, then runs ONE statement:
 *
 * - `POST /token`: inserts one access-token row (client_credentials);
 * - `POST /token?jwt=1`: the same insert, the token a signed RS256 JWT;
 * - `POST /rotate`: retires a refresh pair (the refresh token and its access
 *   token) and inserts the new pair;
 * - `POST /exchange`: consumes a code (client, redirect URI, PKCE, expiry checked
 *   in the WHERE clause), opens a grant and inserts its pair; `?alg=RS256|ES256`
 *   also signs an ID token with that algorithm;
 * - `POST /poll`: records a device-code poll and answers `authorization_pending`;
 * - `POST /register`: inserts one client row and answers its metadata;
 * - `POST /lookup`, `GET /lookup`: select one token row by its digest;
 * - `POST /lookup-joined`: the token row with its client's public id and status
 *   and its user's name, in one statement: what an RFC 7662 answer names
 *   (`client_id`, `username`) and what decides it (a suspended client).
 *
 * No client lookup, no logging, no metrics. `GET /health` answers without the
 * database; `GET /eld` reports this process's event-loop delay (p99, ms) since
 * the last call, then resets it.
 *
 * Env: DATABASE_URL (pg), or PGLITE_DIR (embedded PGlite, in this process, as
 * latch's embedded mode, each statement parsed once as a named statement); CLIENT_ID, CLIENT_UUID, SECRET_DIGEST, ISSUER.
 * Prints {"port"} on stdout.
 */
import Fastify from 'fastify';
import formbody from '@fastify/formbody';
import pg from 'pg';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';

type Query = (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

async function openDatabase(): Promise<{ query: Query; close(): Promise<void> }> {
  const dir = process.env.PGLITE_DIR;
  if (dir) {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(`${dir}/pgdata`);
    return { query: await namedStatements(db), close: () => db.close() };
  }
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  return { query: async (text, params) => (await pool.query(text, params)).rows, close: () => pool.end() };
}

/**
 * PGlite's `query` parses and plans each statement anew; a server built for
 * speed parses its few statements once. Each text becomes a named statement
 * on first use (Parse and Describe, whose row description is kept), then runs
 * as Bind, Execute and Sync.
 */
async function namedStatements(db: import('@electric-sql/pglite').PGlite): Promise<Query> {
  const { protocol, parse } = await import('@electric-sql/pglite');
  const { serialize } = protocol;
  const join = (parts: Uint8Array[]) => Buffer.concat(parts);
  type Described = { name: string; types: number[]; columns: unknown };
  const statements = new Map<string, Described>();
  return (text, params) =>
    db.runExclusive(async () => {
      let statement = statements.get(text);
      if (!statement) {
        const name = `ref_${statements.size}`;
        const described = await db.execProtocolStream(join([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]), {});
        const types = (described.find((m) => m.name === 'parameterDescription') as unknown as { dataTypeIDs: number[] }).dataTypeIDs;
        statements.set(text, (statement = { name, types, columns: described.find((m) => m.name === 'rowDescription') }));
      }
      const values = params.map((v, i) => (v == null ? null : (db.serializers[statement.types[i]!] ?? String)(v)));
      const messages = await db.execProtocolStream(join([serialize.bind({ statement: statement.name, values }), serialize.execute({}), serialize.sync()]), {});
      const all = statement.columns ? [statement.columns as (typeof messages)[number], ...messages] : messages;
      return (parse.parseResults(all, db.parsers)[0]?.rows ?? []) as Record<string, unknown>[];
    });
}

const db = await openDatabase();
const clientId = process.env.CLIENT_ID!;
const clientUuid = process.env.CLIENT_UUID!;
const secretDigest = Buffer.from(process.env.SECRET_DIGEST!, 'hex');
const issuer = process.env.ISSUER ?? 'http://127.0.0.1';
const sha256 = (s: string) => createHash('sha256').update(s).digest();
const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = (prefix: string) => prefix + randomBytes(32).toString('base64url');
const HOUR = 3600_000;

const keys: Record<'RS256' | 'ES256', CryptoKey> = {
  RS256: (await generateKeyPair('RS256')).privateKey,
  ES256: (await generateKeyPair('ES256')).privateKey,
};

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
await app.register(formbody);

function authenticated(header: string | undefined): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decodeURIComponent(decoded.slice(0, colon)) !== clientId) return false;
  return timingSafeEqual(sha256(decodeURIComponent(decoded.slice(colon + 1))), secretDigest);
}

const form = (request: { body: unknown }) => (request.body ?? {}) as Record<string, string | undefined>;
const invalidClient = { error: 'invalid_client' };
const invalidGrant = { error: 'invalid_grant' };

app.post('/token', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send(invalidClient);
  const scope = form(request).scope ?? 'read';
  const now = new Date();
  const jti = randomUUID();
  const token =
    (request.query as Record<string, string>).jwt === '1'
      ? await new SignJWT({ scope, client_id: clientId, jti })
          .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
          .setIssuer(issuer)
          .setSubject(clientId)
          .setAudience(issuer)
          .setIssuedAt(now)
          .setExpirationTime(new Date(now.getTime() + 2 * HOUR))
          .sign(keys.RS256)
      : secret('latch_at_');
  await db.query(
    'insert into access_tokens (token_digest, client_id, scope, kind, expires_at, created_at) values ($1, $2, $3, $4, $5, $6)',
    [hex(token), clientUuid, scope, 'bearer', new Date(now.getTime() + 2 * HOUR), now],
  );
  return reply.header('cache-control', 'no-store').send({ access_token: token, token_type: 'Bearer', expires_in: 7200, scope });
});

// Retire the presented refresh token and the access token it came with; the new pair carries the grant on.
const ROTATE = `
with old as (
  update refresh_tokens r set rotated_at = $5, replaced_by = $4
  where r.token_digest = $1 and r.client_id = $2 and r.rotated_at is null and r.revoked_at is null and r.expires_at > $5
    and not exists (select 1 from grants g where g.id = r.grant_id and g.revoked_at is not null)
  returning r.grant_id, r.user_id, r.scope, r.access_token_digest),
retired as (
  update access_tokens set revoked_at = $5 where token_digest = (select access_token_digest from old) and revoked_at is null),
access as (
  insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at)
  select $3, grant_id, $2, user_id, scope, 'bearer', $6, $5 from old),
refresh as (
  insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
  select $4, grant_id, $2, user_id, $3, scope, $7, $5 from old)
select scope from old`;

app.post('/rotate', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send(invalidClient);
  const presented = form(request).refresh_token;
  if (!presented) return reply.code(400).send(invalidGrant);
  const now = new Date();
  const access = secret('latch_at_');
  const refresh = secret('latch_rt_');
  const rows = await db.query(ROTATE, [hex(presented), clientUuid, hex(access), hex(refresh), now, new Date(now.getTime() + 2 * HOUR), new Date(now.getTime() + 720 * HOUR)]);
  if (!rows[0]) return reply.code(400).send(invalidGrant);
  return reply.header('cache-control', 'no-store').send({ access_token: access, token_type: 'Bearer', expires_in: 7200, refresh_token: refresh, scope: rows[0].scope });
});

// Spend the code only when this client, redirect URI and PKCE verifier match and it is unexpired; open its grant and pair.
const EXCHANGE = `
with code as (
  update authorization_codes set consumed_at = $5
  where code_digest = $1 and client_id = $2 and consumed_at is null and expires_at > $5
    and redirect_uri is not distinct from $8 and code_challenge = $9 and code_challenge_method = 'S256'
  returning user_id, scope, nonce, auth_time, sid, amr),
grant_row as (
  insert into grants (id, client_id, user_id, scope, code_digest, auth_time, sid, amr, created_at)
  select $10, $2, user_id, scope, $1, auth_time, sid, amr, $5 from code),
access as (
  insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at)
  select $3, $10, $2, user_id, scope, 'bearer', $6, $5 from code),
refresh as (
  insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
  select $4, $10, $2, user_id, $3, scope, $7, $5 from code)
select user_id, scope, nonce, auth_time from code`;

app.post('/exchange', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send(invalidClient);
  const { code, redirect_uri, code_verifier } = form(request);
  if (!code || !code_verifier) return reply.code(400).send(invalidGrant);
  const now = new Date();
  const access = secret('latch_at_');
  const refresh = secret('latch_rt_');
  const challenge = createHash('sha256').update(code_verifier).digest('base64url');
  const rows = await db.query(EXCHANGE, [
    hex(code), clientUuid, hex(access), hex(refresh), now, new Date(now.getTime() + 2 * HOUR), new Date(now.getTime() + 720 * HOUR),
    redirect_uri ?? null, challenge, randomUUID(),
  ]);
  const row = rows[0];
  if (!row) return reply.code(400).send(invalidGrant);
  const alg = (request.query as Record<string, string>).alg as 'RS256' | 'ES256' | undefined;
  const idToken =
    alg && keys[alg]
      ? await new SignJWT({ ...(row.nonce ? { nonce: row.nonce } : {}), ...(row.auth_time ? { auth_time: Math.floor((row.auth_time as Date).getTime() / 1000) } : {}) })
          .setProtectedHeader({ alg, kid: alg })
          .setIssuer(issuer)
          .setSubject(String(row.user_id))
          .setAudience(clientId)
          .setIssuedAt(now)
          .setExpirationTime(new Date(now.getTime() + HOUR))
          .sign(keys[alg])
      : undefined;
  return reply
    .header('cache-control', 'no-store')
    .send({ access_token: access, token_type: 'Bearer', expires_in: 7200, refresh_token: refresh, scope: row.scope, ...(idToken ? { id_token: idToken } : {}) });
});

// A poll: note when it came (the next one is judged against it), then tell the device to wait.
const POLL = `
update device_codes d set last_polled_at = $3
from (select device_code_digest, last_polled_at as previous from device_codes where device_code_digest = $1 for update) p
where d.device_code_digest = p.device_code_digest and d.client_id = $2
returning d.status, d.expires_at, p.previous`;

app.post('/poll', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send(invalidClient);
  const deviceCode = form(request).device_code;
  if (!deviceCode) return reply.code(400).send(invalidGrant);
  const now = new Date();
  const row = (await db.query(POLL, [hex(deviceCode), clientUuid, now]))[0];
  if (!row || (row.expires_at as Date) <= now) return reply.code(400).send({ error: 'expired_token' });
  if (row.previous && now.getTime() - (row.previous as Date).getTime() < 5000) return reply.code(400).send({ error: 'slow_down' });
  if (row.status === 'pending') return reply.code(400).send({ error: 'authorization_pending' });
  return reply.code(400).send({ error: 'access_denied' });
});

app.post('/register', async (request, reply) => {
  const body = (request.body ?? {}) as { redirect_uris?: string[]; client_name?: string };
  if (!Array.isArray(body.redirect_uris) || body.redirect_uris.length === 0) return reply.code(400).send({ error: 'invalid_redirect_uri' });
  const id = 'c_' + randomBytes(12).toString('base64url');
  const clientSecret = secret('latch_cs_');
  const now = new Date();
  await db.query(
    `insert into clients (id, client_id, secret_digest, name, status, redirect_uris, scopes, grant_types, is_confidential, created_at, updated_at)
     values ($1, $2, $3, $4, 'active', $5, $6, $7, true, $8, $8)`,
    [randomUUID(), id, hex(clientSecret), body.client_name ?? 'registered', body.redirect_uris, ['read'], ['authorization_code', 'refresh_token'], now],
  );
  return reply.code(201).send({
    client_id: id, client_secret: clientSecret, client_id_issued_at: Math.floor(now.getTime() / 1000), client_secret_expires_at: 0,
    redirect_uris: body.redirect_uris, client_name: body.client_name, grant_types: ['authorization_code', 'refresh_token'],
  });
});

async function lookup(token: string | undefined) {
  if (!token) return { active: false };
  const rows = await db.query('select scope, client_id, user_id, expires_at, revoked_at from access_tokens where token_digest = $1', [hex(token)]);
  return rows[0] ? { active: true, scope: rows[0].scope } : { active: false };
}
app.post('/lookup', async (request) => lookup(form(request).token));
app.post('/lookup-joined', async (request) => {
  const token = form(request).token;
  if (!token) return { active: false };
  const rows = await db.query(
    `select t.scope, t.user_id, t.expires_at, t.created_at, t.revoked_at, c.client_id, c.status, u.username
     from access_tokens t join clients c on c.id = t.client_id left join users u on u.id = t.user_id
     where t.token_digest = $1`,
    [hex(token)],
  );
  const row = rows[0];
  return row ? { active: true, scope: row.scope, client_id: row.client_id, username: row.username, sub: row.user_id } : { active: false };
});
app.get('/lookup', async (request) => lookup(request.headers.authorization?.slice(7)));

app.get('/health', async () => ({ status: 'ok' }));
app.get('/eld', async () => {
  const p99 = eld.percentile(99) / 1e6;
  const max = eld.max / 1e6;
  eld.reset();
  return { p99_ms: Number(p99.toFixed(2)), max_ms: Number(max.toFixed(2)) };
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ port: new URL(address).port }) + '\n');
const stop = async () => {
  await app.close();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
