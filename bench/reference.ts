/**
 * The architectural limit of latch's design, for the benchmark: the least a
 * server of this shape must do per request. Fastify with the same form parser;
 * `POST /token` checks a Basic credential by SHA-256 and constant-time compare,
 * inserts one token row with `pg` and answers JSON; `POST /lookup` and
 * `GET /lookup` select one token row by its digest. Nothing else: no client
 * lookup, no rules, no logging, no metrics.
 *
 * Env: DATABASE_URL, CLIENT_ID, CLIENT_UUID, SECRET_DIGEST. Prints {"port"} on stdout.
 */
import Fastify from 'fastify';
import formbody from '@fastify/formbody';
import pg from 'pg';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const clientId = process.env.CLIENT_ID!;
const clientUuid = process.env.CLIENT_UUID!;
const secretDigest = Buffer.from(process.env.SECRET_DIGEST!, 'hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest();

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
await app.register(formbody);

function authenticated(header: string | undefined): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decodeURIComponent(decoded.slice(0, colon)) !== clientId) return false;
  return timingSafeEqual(sha256(decodeURIComponent(decoded.slice(colon + 1))), secretDigest);
}

app.post('/token', async (request, reply) => {
  const body = request.body as Record<string, string>;
  if (!authenticated(request.headers.authorization)) return reply.code(401).send({ error: 'invalid_client' });
  const token = 'latch_at_' + randomBytes(32).toString('base64url');
  const now = new Date();
  await pool.query(
    'insert into access_tokens (token_digest, client_id, scope, kind, expires_at, created_at) values ($1, $2, $3, $4, $5, $6)',
    [createHash('sha256').update(token).digest('hex'), clientUuid, body.scope ?? 'read', 'bearer', new Date(now.getTime() + 7200_000), now],
  );
  return reply.header('cache-control', 'no-store').send({ access_token: token, token_type: 'Bearer', expires_in: 7200, scope: 'read', created_at: Math.floor(now.getTime() / 1000) });
});

async function lookup(token: string | undefined) {
  if (!token) return { active: false };
  const r = await pool.query('select scope, client_id, user_id, expires_at, revoked_at from access_tokens where token_digest = $1', [
    createHash('sha256').update(token).digest('hex'),
  ]);
  return r.rows[0] ? { active: true, scope: r.rows[0].scope } : { active: false };
}
app.post('/lookup', async (request) => lookup((request.body as Record<string, string>).token));
app.get('/lookup', async (request) => lookup(request.headers.authorization?.slice(7)));

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ port: new URL(address).port }) + '\n');
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
