/**
 * `npm run bench`: latch against the architectural limit of its design (bench/reference.ts),
 * both on real PostgreSQL, driven by autocannon from a separate process on loopback.
 *
 * Env: BENCH_DATABASE_URL (default the local server; a fresh database is created
 * and dropped), BENCH_SECONDS per run (default 5), BENCH_CONNECTIONS (default "10,50"),
 * BENCH_SCENARIOS (comma list, default all), BENCH_PROFILE=1 (latch runs with
 * --cpu-prof, profiles in bench/profiles/).
 * Prints a table and writes bench/results.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { digest, newSecret, PREFIX } from '../src/crypto/secrets.js';
import { openPostgres } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { registerClient } from '../src/manage/clients/index.js';
import { OPERATOR } from '../src/manage/actor.js';
import { createUser } from '../src/manage/users.js';
import { s256 } from '../src/oauth/pkce.js';
import { systemClock } from '../src/clock.js';
import type { LoadJob, LoadResult } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const SERVER = join(ROOT, 'dist', 'src', 'server.js');
const REFERENCE = join(ROOT, 'dist', 'bench', 'reference.js');
const LOAD = join(ROOT, 'dist', 'bench', 'load.js');

const serverUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS || 5);
const connectionLevels = (process.env.BENCH_CONNECTIONS || '10,50').split(',').map(Number);
const profile = process.env.BENCH_PROFILE === '1';
const REDIRECT = 'http://127.0.0.1:8080/callback';
/** Node flags for latch: those `npm start` uses (package.json), unless BENCH_NODE_FLAGS says otherwise. */
const LATCH_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? startFlags()).split(' ').filter(Boolean);
const VERIFIER = 'bench-verifier-' + 'x'.repeat(40);

type Limit = 'insert' | 'lookup_post' | 'lookup_get';
interface Scenario {
  name: string;
  limit: Limit;
  /** Builds the load for latch at `connections`; may seed single-use items first. */
  job(connections: number): Promise<Omit<LoadJob, 'url' | 'connections' | 'seconds'>>;
}

const children: ChildProcess[] = [];
let dropDatabase: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const only = process.env.BENCH_SCENARIOS?.split(',');
  const dbName = `latch_bench_${randomBytes(5).toString('hex')}`;
  await admin(`create database ${dbName}`);
  dropDatabase = () => admin(`drop database if exists ${dbName} with (force)`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const handle = openPostgres(databaseUrl);
  await migrateToLatest(handle.db);
  const cookieSecret = randomBytes(24).toString('hex');
  const keySecret = randomBytes(24).toString('hex');
  const config = loadConfig({ DATABASE_URL: databaseUrl, LATCH_COOKIE_SECRET: cookieSecret, LATCH_KEY_SECRET: keySecret });
  const user = await createUser(handle.db, systemClock, { username: 'bench', password: 'load-test-passphrase-1', email: 'bench@example.com', isAdmin: false });
  const { client, secret } = await registerClient({ db: handle.db, clock: systemClock, config }, OPERATOR, {
    name: 'Bench',
    redirectUris: [REDIRECT],
    grantTypes: ['authorization_code', 'refresh_token', 'password', 'client_credentials'],
  });
  const basicAuth = 'Basic ' + Buffer.from(`${client.client_id}:${secret}`).toString('base64');
  const pool = handle.pool!;

  // A live user token for introspection and userinfo.
  const liveToken = newSecret(PREFIX.accessToken);
  await pool.query(
    `insert into access_tokens (token_digest, client_id, user_id, scope, kind, expires_at, created_at)
     values ($1, $2, $3, 'read', 'bearer', now() + interval '1 day', now())`,
    [digest(liveToken), client.id, user.id],
  );

  const perRun = Math.ceil(6000 * seconds * 1.2) + 1000;
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth };
  const scenarios: Scenario[] = [
    {
      name: 'client_credentials',
      limit: 'insert',
      job: async () => ({ method: 'POST', path: '/oauth/token', headers: form, body: 'grant_type=client_credentials&scope=read' }),
    },
    {
      name: 'refresh_token',
      limit: 'insert',
      job: async () => ({
        method: 'POST',
        path: '/oauth/token',
        headers: form,
        body: 'grant_type=refresh_token&refresh_token={{item}}',
        items: await seedRefreshTokens(pool, client.id, user.id, perRun),
        itemIn: 'body',
      }),
    },
    {
      name: 'authorization_code',
      limit: 'insert',
      job: async () => ({
        method: 'POST',
        path: '/oauth/token',
        headers: form,
        body: `grant_type=authorization_code&code={{item}}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${VERIFIER}`,
        items: await seedCodes(pool, client.id, user.id, perRun),
        itemIn: 'body',
      }),
    },
    {
      name: 'introspect',
      limit: 'lookup_post',
      job: async () => ({ method: 'POST', path: '/oauth/introspect', headers: form, body: `token=${liveToken}` }),
    },
    {
      name: 'userinfo',
      limit: 'lookup_get',
      job: async () => ({ method: 'GET', path: '/oauth/userinfo', headers: { authorization: `Bearer ${liveToken}` } }),
    },
  ].filter((s) => !only || only.includes(s.name)) as Scenario[];

  const latchPort = await freePort();
  const profileDir = join(ROOT, 'bench', 'profiles');
  if (profile) mkdirSync(profileDir, { recursive: true });
  const latch = await start(
    [...LATCH_NODE_FLAGS, ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), SERVER],
    { DATABASE_URL: databaseUrl, LATCH_COOKIE_SECRET: cookieSecret, LATCH_KEY_SECRET: keySecret, HOST: '127.0.0.1', PORT: String(latchPort), LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'info' },
    async () => (await fetch(`http://127.0.0.1:${latchPort}/readyz`).catch(() => null))?.status === 200,
  );
  const reference = await start(
    [...(profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'reference')] : []), REFERENCE],
    { DATABASE_URL: databaseUrl, CLIENT_ID: client.client_id, CLIENT_UUID: client.id, SECRET_DIGEST: client.secret_digest! },
    async (out) => /"port"/.test(out),
  );
  const referencePort = JSON.parse(reference.output().match(/\{"port".*\}/)![0]).port;
  const latchUrl = `http://127.0.0.1:${latchPort}`;
  const referenceUrl = `http://127.0.0.1:${referencePort}`;

  // Warm both up (JIT, pool connections) before measuring.
  await drive({ url: latchUrl, connections: 10, seconds: 2, method: 'POST', path: '/oauth/token', headers: form, body: 'grant_type=client_credentials' });
  await drive({ url: referenceUrl, connections: 10, seconds: 2, method: 'POST', path: '/token', headers: form, body: 'grant_type=client_credentials' });

  const limits: Record<string, Measured> = {};
  const limitJob = (limit: Limit): Omit<LoadJob, 'url' | 'connections' | 'seconds'> =>
    limit === 'insert'
      ? { method: 'POST', path: '/token', headers: form, body: 'grant_type=client_credentials&scope=read' }
      : limit === 'lookup_post'
        ? { method: 'POST', path: '/lookup', headers: form, body: `token=${liveToken}` }
        : { method: 'GET', path: '/lookup', headers: { authorization: `Bearer ${liveToken}` } };

  const rows: Row[] = [];
  // The machine may be shared, so its speed drifts: each latch run is compared with
  // the mean of the limit runs just before and just after it (one run serves as
  // "after" for one scenario and "before" for the next).
  for (const connections of connectionLevels) {
    for (const scenario of scenarios) {
      const key = `${scenario.limit}.c${connections}`;
      const runLimit = () => measured(reference.child.pid!, () => drive({ url: referenceUrl, connections, seconds, ...limitJob(scenario.limit) }));
      const before = limits[key] ?? (await runLimit());
      const job = await scenario.job(connections);
      const result = await measured(latch.child.pid!, () => drive({ url: latchUrl, connections, seconds, ...job }));
      const after = await runLimit();
      limits[key] = after;
      rows.push({ scenario: scenario.name, connections, latch: result, limit: meanOf(before, after), limitName: scenario.limit });
      printRow(rows.at(-1)!);
    }
  }

  const latchRss = rss(latch.child.pid!);
  const referenceRss = rss(reference.child.pid!);
  await stop(latch.child);
  await stop(reference.child);
  await handle.close();
  await dropDatabase();
  dropDatabase = undefined;

  printTable(rows, latchRss, referenceRss);
  const results = toJson(rows, latchRss, referenceRss);
  writeFileSync(join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\nwrote bench/results.json${profile ? '; CPU profiles in bench/profiles/' : ''}\n`);
}

type Measured = LoadResult & { cpuPerRequest: number };
/** The node flags in package.json's start script, so the benchmark runs latch as `npm start` does. */
function startFlags(): string {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  return start.match(/^node((?: --[^ ]+)*) /)?.[1]?.trim() ?? '';
}

interface Row {
  scenario: string;
  connections: number;
  latch: Measured;
  limit: Measured;
  limitName: Limit;
}

/** Refresh tokens, each in a family of its own with its own access token, as a login would leave them. */
async function seedRefreshTokens(pool: pg.Pool, clientUuid: string, userId: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let done = 0; done < count; done += 5000) {
    const n = Math.min(5000, count - done);
    const grants: string[] = [];
    const access: string[] = [];
    const refresh: string[] = [];
    for (let i = 0; i < n; i++) {
      const token = newSecret(PREFIX.refreshToken);
      tokens.push(token);
      grants.push(randomUUID());
      access.push(digest(newSecret(PREFIX.accessToken)));
      refresh.push(digest(token));
    }
    await pool.query(
      `with g as (
         insert into grants (id, client_id, user_id, scope, created_at)
         select id, $2, $3, 'read', now() from unnest($1::uuid[]) as id returning id),
       a as (
         insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at)
         select d, g, $2, $3, 'read', 'bearer', now() + interval '2 hours', now()
         from unnest($4::text[], $1::uuid[]) as x(d, g) returning token_digest)
       insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
       select r, g, $2, $3, d, 'read', now() + interval '30 days', now()
       from unnest($5::text[], $1::uuid[], $4::text[]) as x(r, g, d)`,
      [grants, clientUuid, userId, access, refresh],
    );
  }
  return tokens;
}

/** Authorization codes with a PKCE challenge, as the authorization endpoint stores them. */
async function seedCodes(pool: pg.Pool, clientUuid: string, userId: string, count: number): Promise<string[]> {
  const codes: string[] = [];
  const challenge = s256(VERIFIER);
  for (let done = 0; done < count; done += 5000) {
    const digests: string[] = [];
    for (let i = 0; i < Math.min(5000, count - done); i++) {
      const code = newSecret(PREFIX.code);
      codes.push(code);
      digests.push(digest(code));
    }
    await pool.query(
      `insert into authorization_codes (code_digest, client_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, expires_at, created_at)
       select d, $2, $3, $4, 'read', $5, 'S256', now() + interval '1 hour', now() from unnest($1::text[]) as d`,
      [digests, clientUuid, userId, REDIRECT, challenge],
    );
  }
  return codes;
}

/** Runs one load in its own process (bench/load.ts) and returns what it measured. */
async function drive(job: LoadJob): Promise<LoadResult> {
  const dir = mkdtempSync(join(os.tmpdir(), 'latch-bench-'));
  try {
    const file = join(dir, 'job.json');
    writeFileSync(file, JSON.stringify(job));
    const child = spawn(process.execPath, [LOAD, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the load generator failed (exit ${code})`);
    return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function start(args: string[], env: Record<string, string>, ready: (output: string) => Promise<boolean>) {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  // Keep the server's own log from growing without bound in this process.
  child.stdout!.on('data', () => {
    if (output.length > 1_000_000) output = output.slice(-10_000);
  });
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`a server exited at start:\n${output}`);
    if (await ready(output)) return { child, output: () => output };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`a server did not start within 30 s:\n${output}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

/** CPU time (user + system) a process has used, in microseconds (Linux /proc, 100 Hz ticks). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * Runs a load and adds the server's CPU time per request: on a shared machine
 * throughput swings with the neighbours' load, CPU per request much less.
 */
async function measured(pid: number, run: () => Promise<LoadResult>): Promise<Measured> {
  const before = cpuMicros(pid);
  const result = await run();
  return { ...result, cpuPerRequest: (cpuMicros(pid) - before) / Math.max(1, result.total) };
}

function meanOf(a: Measured, b: Measured): Measured {
  const mean = (x: number, y: number) => (x + y) / 2;
  return {
    rps: mean(a.rps, b.rps),
    p50: mean(a.p50, b.p50),
    p99: mean(a.p99, b.p99),
    errors: a.errors + b.errors,
    non2xx: a.non2xx + b.non2xx,
    total: a.total + b.total,
    exhausted: false,
    cpuPerRequest: mean(a.cpuPerRequest, b.cpuPerRequest),
  };
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function rss(pid: number): { rss_mb: number; peak_rss_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))?.[1] ?? 0);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_rss_mb: Math.round(kb('VmHWM') / 1024) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function admin(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

const ratio = (r: Row) => r.latch.rps / r.limit.rps;
const fmt = (n: number, width: number, digits = 0) => n.toFixed(digits).padStart(width);

function printRow(r: Row): void {
  process.stdout.write(
    `${r.scenario.padEnd(20)} c${String(r.connections).padEnd(3)} latch ${fmt(r.latch.rps, 6)} req/s p50 ${fmt(r.latch.p50, 3)} ms p99 ${fmt(r.latch.p99, 3)} ms ${fmt(r.latch.cpuPerRequest, 5)} µs CPU/req | limit ${fmt(r.limit.rps, 6)} req/s ${fmt(r.limit.cpuPerRequest, 5)} µs CPU/req | ${fmt(ratio(r) * 100, 3)}%\n`,
  );
}

function printTable(rows: Row[], latchRss: ReturnType<typeof rss>, referenceRss: ReturnType<typeof rss>): void {
  const head = ['scenario', 'conn', 'latch req/s', 'p50 ms', 'p99 ms', 'errors', 'CPU µs/req', 'limit req/s', 'limit p50', 'limit p99', 'limit CPU µs/req', 'latch/limit'];
  const lines = rows.map((r) => [
    r.scenario,
    `c${r.connections}`,
    r.latch.rps.toFixed(0),
    String(r.latch.p50),
    String(r.latch.p99),
    String(r.latch.errors + r.latch.non2xx + (r.latch.exhausted ? 1 : 0)),
    r.latch.cpuPerRequest.toFixed(0),
    r.limit.rps.toFixed(0),
    String(r.limit.p50),
    String(r.limit.p99),
    r.limit.cpuPerRequest.toFixed(0),
    `${(ratio(r) * 100).toFixed(0)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  process.stdout.write('\n' + line(head) + '\n' + '|' + widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|\n');
  for (const l of lines) process.stdout.write(line(l) + '\n');
  process.stdout.write(
    `\nlatch RSS ${latchRss.rss_mb} MB (peak ${latchRss.peak_rss_mb} MB); reference RSS ${referenceRss.rss_mb} MB (peak ${referenceRss.peak_rss_mb} MB)\n` +
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}; ${seconds} s per run\n`,
  );
}

function toJson(rows: Row[], latchRss: ReturnType<typeof rss>, referenceRss: ReturnType<typeof rss>) {
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    seconds_per_run: seconds,
    latch_rss_mb: latchRss.rss_mb,
    latch_peak_rss_mb: latchRss.peak_rss_mb,
    reference_rss_mb: referenceRss.rss_mb,
  };
  for (const r of rows) {
    const scenario = (out[r.scenario] ??= {}) as Record<string, unknown>;
    scenario[`c${r.connections}`] = {
      ratio: Number(ratio(r).toFixed(3)),
      cpu_ratio: Number((r.limit.cpuPerRequest / r.latch.cpuPerRequest).toFixed(3)),
      latch: { rps: Math.round(r.latch.rps), p50_ms: r.latch.p50, p99_ms: r.latch.p99, errors: r.latch.errors, non2xx: r.latch.non2xx, requests: r.latch.total, cpu_us_per_request: Math.round(r.latch.cpuPerRequest), items_exhausted: r.latch.exhausted },
      limit: { name: r.limitName, rps: Math.round(r.limit.rps), p50_ms: r.limit.p50, p99_ms: r.limit.p99, errors: r.limit.errors + r.limit.non2xx, cpu_us_per_request: Math.round(r.limit.cpuPerRequest) },
    };
  }
  return out;
}

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await dropDatabase?.().catch(() => {});
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  await cleanup();
  process.exit(1);
});
