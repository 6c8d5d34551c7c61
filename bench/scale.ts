/**
 * `npm run bench:scale` (also the `scale` group of `npm run bench`): does latch's cost stay flat as
 * its tables grow? (issue 15, items 4 and 7, and the figures of the README's "Scaling" section.)
 *
 * Two fresh PostgreSQL databases, each with its own latch process: one stays empty, the other gets
 * BENCH_SCALE_ROWS live token rows (default 5,000,000) and a fifth as many expired ones, seeded with
 * generate_series. After a checkpoint (so the seeding's writes are not still being flushed),
 * client_credentials issuance and introspection (cycling through 20,000 live tokens on each side,
 * so lookups spread over the digest index) run against both in the same rounds, the order swapped
 * each round, and the ratio full ÷ empty is kept per round. Also: table and index bytes per million
 * tokens; WAL bytes and transactions per issuance, refresh and code exchange; WAL per issuance just
 * after a checkpoint on both tables; c50 and latch's peak memory at full size; and `bin/latch prune`
 * over the expired rows while introspection is under load, its p99 against the idle figure.
 *
 * Env: BENCH_DATABASE_URL (default the local server), BENCH_SECONDS per run (default 5),
 * BENCH_SCALE_ROWS, BENCH_SCALE_RUNS (rounds, default 3), BENCH_SCALE_DB_SETTINGS (see below).
 * Prints a summary and writes bench/scale-results.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { openPostgres } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { registerClient } from '../src/manage/clients/index.js';
import { OPERATOR } from '../src/manage/actor.js';
import { createUser } from '../src/manage/users.js';
import { systemClock } from '../src/clock.js';
import type { LoadResult } from './load.js';
import { REDIRECT, seedCodes, seedLiveTokens, seedRefreshTokens, VERIFIER } from './seed.js';
import { admin as adminStatement, cpuMicros, cpuSince, drive, freePort, postgresCpu, rss, start, startFlags, stop, stopAll } from './servers.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const SERVER = join(ROOT, 'dist', 'src', 'server.js');
const CLI = join(ROOT, 'bin', 'latch');

const serverUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS || 5);
const rows = Number(process.env.BENCH_SCALE_ROWS || 5_000_000);
const expiredRows = Math.round(rows / 5);
/** Issuances between two WAL positions: enough that the seeding's tail does not count. */
const WAL_SAMPLE = 2000;
/** Rounds of empty-then-full (order swapped each round); the minimum and median ratio are kept. */
const SCALE_RUNS = Math.max(1, Number(process.env.BENCH_SCALE_RUNS || 3));
/** Distinct live tokens introspection cycles through on each side: lookups land all over the digest index. */
const LOOKUP_TOKENS = 20_000;
/**
 * BENCH_SCALE_DB_SETTINGS: PostgreSQL settings for the run's database only
 * (`ALTER DATABASE … SET`), e.g. `wal_compression=lz4`, to measure a tuning
 * without touching the server's configuration.
 */
const dbSettings = (process.env.BENCH_SCALE_DB_SETTINGS ?? '').split(/[\s,]+/).filter(Boolean).map((kv) => {
  const m = kv.match(/^([a-z_]+)=([A-Za-z0-9_.]+)$/);
  if (!m) throw new Error(`BENCH_SCALE_DB_SETTINGS: expected name=value pairs, got "${kv}"`);
  return { name: m[1]!, value: m[2]! };
});

const dropDatabases: (() => Promise<void>)[] = [];

/** One database with latch in front of it: the empty one or the one that gets the millions of rows. */
interface Side {
  name: string;
  dbName: string;
  env: Record<string, string>;
  handle: ReturnType<typeof openPostgres>;
  pool: pg.Pool;
  url: string;
  pid: number;
  child: Parameters<typeof stop>[0];
  form: Record<string, string>;
  clientUuid: string;
  userId: string;
  /** Live access tokens introspection cycles through (random digests, so spread over the index). */
  liveTokens: string[];
}

const secrets = { LATCH_COOKIE_SECRET: randomBytes(24).toString('hex'), LATCH_KEY_SECRET: randomBytes(24).toString('hex') };

async function side(name: string): Promise<Side> {
  const dbName = `latch_scale_${name}_${process.pid}`;
  await admin(`drop database if exists ${dbName}`);
  await admin(`create database ${dbName}`);
  dropDatabases.push(() => admin(`drop database if exists ${dbName} with (force)`));
  for (const { name: setting, value } of dbSettings) await admin(`alter database ${dbName} set ${setting} = '${value}'`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const handle = openPostgres(databaseUrl);
  await migrateToLatest(handle.db);
  const config = loadConfig({ DATABASE_URL: databaseUrl, ...secrets });
  const user = await createUser(handle.db, systemClock, { username: 'scale', password: 'load-test-passphrase-1', email: 'scale@example.com', isAdmin: false });
  const { client, secret } = await registerClient({ db: handle.db, clock: systemClock, config }, OPERATOR, {
    name: 'Scale',
    redirectUris: [REDIRECT],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
  });
  const pool = handle.pool!;
  const liveTokens = await seedLiveTokens(pool, client.id, user.id, LOOKUP_TOKENS);
  const env = { DATABASE_URL: databaseUrl, ...secrets };
  const port = await freePort();
  const latchUrl = `http://127.0.0.1:${port}`;
  // With the flags `npm start` uses: memory is measured as latch is deployed.
  const latch = await start([...startFlags(ROOT).split(' ').filter(Boolean), SERVER], { ...env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' }, async () =>
    (await fetch(`${latchUrl}/readyz`).catch(() => null))?.status === 200 ? latchUrl : null,
  );
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${secret}`).toString('base64') };
  return { name, dbName, env, handle, pool, url: latchUrl, pid: latch.child.pid!, child: latch.child, form, clientUuid: client.id, userId: user.id, liveTokens };
}

type Run = LoadResult & { latchCpuUs: number; postgresCpuUs: number };

/** A load run with latch's and PostgreSQL's CPU per request over it (from /proc). */
async function withCpu(s: Side, load: Promise<LoadResult> | (() => Promise<LoadResult>)): Promise<Run> {
  const before = { latch: cpuMicros(s.pid), postgres: postgresCpu() };
  const result = await (typeof load === 'function' ? load() : load);
  const per = (us: number) => Math.round(us / Math.max(1, result.total));
  return { ...result, latchCpuUs: per(cpuMicros(s.pid) - before.latch), postgresCpuUs: per(cpuSince(before.postgres, postgresCpu())) };
}

const issue = (s: Side, connections: number) =>
  withCpu(s, () => drive({ url: s.url, connections, seconds, method: 'POST', path: '/oauth/token', headers: s.form, body: 'grant_type=client_credentials&scope=read' }));
const introspect = (s: Side, connections: number, secs = seconds) =>
  withCpu(s, () => drive({ url: s.url, connections, seconds: secs, method: 'POST', path: '/oauth/introspect', headers: s.form, body: 'token={{item}}', items: s.liveTokens, cycle: true }));

async function main(): Promise<void> {
  if (dbSettings.length > 0) say(`database settings: ${dbSettings.map((d) => `${d.name}=${d.value}`).join(', ')}`);
  const empty = await side('empty');
  const full = await side('full');

  const refreshTokens = await seedRefreshTokens(empty.pool, empty.clientUuid, empty.userId, WAL_SAMPLE);
  const codes = await seedCodes(empty.pool, empty.clientUuid, empty.userId, WAL_SAMPLE);
  const wal = {
    issuance: await walPer(empty, () => 'grant_type=client_credentials&scope=read'),
    refresh: await walPer(empty, (i) => `grant_type=refresh_token&refresh_token=${refreshTokens[i]}`),
    code_exchange: await walPer(empty, (i) => `grant_type=authorization_code&code=${codes[i]}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${VERIFIER}`),
  };
  for (const [what, w] of Object.entries(wal)) say(`per ${what}:`.padEnd(21) + `${w.bytes.toFixed(0)} WAL bytes, ${w.transactions.toFixed(2)} transactions`);

  const seedStarted = Date.now();
  // Its own connection: latch's pool gives up on a statement after 5 s, and a batch of seeding takes longer.
  const seeder = new pg.Client({ connectionString: full.env.DATABASE_URL });
  await seeder.connect();
  await seed(seeder, full.clientUuid, full.userId, rows, expiredRows);
  await seeder.end();
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  const size = await tableBytes(full.pool);
  const tokenRows = Number((await full.pool.query('select count(*) from access_tokens')).rows[0].count);
  const perMillion = (b: number) => Math.round((b / tokenRows) * 1e6 / 2 ** 20);
  say(`seeded ${rows.toLocaleString('en')} live and ${expiredRows.toLocaleString('en')} expired rows in ${seedSeconds.toFixed(0)} s; ` +
    `access_tokens: ${mb(size.table)} MB table + ${mb(size.indexes)} MB indexes = ${perMillion(size.table)} + ${perMillion(size.indexes)} MB per million rows`);

  // The seeding leaves gigabytes of dirty pages that PostgreSQL and the kernel would otherwise write
  // out during the measurements: flush them first, so the runs measure the rows, not the seeding.
  await full.pool.query('checkpoint');
  for (const s of [empty, full]) {
    await issue(s, 10); // warm-up: JIT, pool connections, the big table's upper index pages
    await introspect(s, 10);
  }
  // Both databases in the same rounds, the order swapped each round: the machine's drift hits both.
  const rounds: { issuance: number; introspection: number; empty: Pair; full: Pair }[] = [];
  for (let round = 1; round <= SCALE_RUNS; round++) {
    const order = round % 2 === 1 ? [empty, full] : [full, empty];
    const got = new Map<Side, Pair>();
    for (const s of order) got.set(s, { issue: await issue(s, 10) } as Pair);
    for (const s of order) got.get(s)!.introspect = await introspect(s, 10);
    const e = got.get(empty)!;
    const f = got.get(full)!;
    rounds.push({ issuance: f.issue.rps / e.issue.rps, introspection: f.introspect.rps / e.introspect.rps, empty: e, full: f });
    say(`round ${round}: empty issuance ${rps(e.issue)}, introspection ${rps(e.introspect)}; ` +
      `${(rows / 1e6).toFixed(1)}M rows issuance ${rps(f.issue)} (${pct(f.issue.rps / e.issue.rps)}), introspection ${rps(f.introspect)} (${pct(f.introspect.rps / e.introspect.rps)})`);
  }
  const ratios = (k: 'issuance' | 'introspection') => rounds.map((r) => r[k]);
  say(`${(rows / 1e6).toFixed(1)}M rows ÷ empty, min (median) of ${SCALE_RUNS} rounds: issuance ${pct(Math.min(...ratios('issuance')))} (${pct(median(ratios('issuance')))}), ` +
    `introspection ${pct(Math.min(...ratios('introspection')))} (${pct(median(ratios('introspection')))})`);

  // What an issuance writes once the digest index is large: the first change of a page after a
  // checkpoint writes the whole page to the WAL (full_page_writes), and random digests touch new pages.
  await full.pool.query('checkpoint');
  const walEmptyAfterCheckpoint = await walPer(empty, () => 'grant_type=client_credentials&scope=read');
  await full.pool.query('checkpoint');
  const walFull = await walPer(full, () => 'grant_type=client_credentials&scope=read');
  say(`per issuance just after a checkpoint: ${walFull.bytes.toFixed(0)} WAL bytes at ${(rows / 1e6).toFixed(1)}M rows, ${walEmptyAfterCheckpoint.bytes.toFixed(0)} on the small table`);
  const c50 = { issue: await issue(full, 50), introspect: await introspect(full, 50) };
  const memory = rss(full.pid).peak_rss_mb;
  say(`c50 at ${(rows / 1e6).toFixed(1)}M rows:    issuance ${rps(c50.issue)}   introspection ${rps(c50.introspect)}   latch peak RSS ${memory} MB`);

  // Prune under load: introspection's p99 while bin/latch prune deletes the expired rows in batches.
  const idle = await introspect(full, 10);
  const pruneStarted = Date.now();
  const [underPrune, pruned] = await Promise.all([introspect(full, 10, Math.max(seconds, 10)), runPrune(full.env)]);
  const pruneSeconds = (Date.now() - pruneStarted) / 1000;
  say(`prune of ${pruned.access_tokens.toLocaleString('en')} expired rows: ${pruned.seconds.toFixed(1)} s; introspection p99 ${underPrune.p99} ms during it vs ${idle.p99} ms idle (${(underPrune.p99 / Math.max(1, idle.p99)).toFixed(1)}×), ${rps(underPrune)}`);

  for (const s of [empty, full]) {
    await stop(s.child);
    await s.handle.close();
  }
  await cleanup();

  const perRound = (k: 'empty' | 'full') => rounds.map((r) => ({
    issuance_rps: Math.round(r[k].issue.rps), issuance_p99_ms: r[k].issue.p99,
    issuance_cpu_us_per_request: { latch: r[k].issue.latchCpuUs, postgres: r[k].issue.postgresCpuUs },
    introspection_rps: Math.round(r[k].introspect.rps), introspection_p99_ms: r[k].introspect.p99,
    introspection_cpu_us_per_request: { latch: r[k].introspect.latchCpuUs, postgres: r[k].introspect.postgresCpuUs },
  }));
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, load_average: os.loadavg().map(round3) },
    seconds_per_run: seconds,
    rounds: SCALE_RUNS,
    introspected_tokens: LOOKUP_TOKENS,
    database_settings: Object.fromEntries(dbSettings.map((d) => [d.name, d.value])),
    live_rows: rows,
    expired_rows: expiredRows,
    seed_seconds: Math.round(seedSeconds),
    empty: perRound('empty'),
    full: perRound('full'),
    full_over_empty: {
      issuance: { min: round3(Math.min(...ratios('issuance'))), median: round3(median(ratios('issuance'))), runs: ratios('issuance').map(round3) },
      introspection: { min: round3(Math.min(...ratios('introspection'))), median: round3(median(ratios('introspection'))), runs: ratios('introspection').map(round3) },
    },
    c50_full: { issuance_rps: Math.round(c50.issue.rps), introspection_rps: Math.round(c50.introspect.rps), latch_peak_rss_mb: memory },
    access_tokens_mb_per_million_rows: { table: perMillion(size.table), indexes: perMillion(size.indexes) },
    per_request: Object.fromEntries(Object.entries(wal).map(([k, w]) => [k, { wal_bytes: Math.round(w.bytes), transactions: round3(w.transactions) }])),
    issuance_wal_bytes_after_checkpoint: { full: Math.round(walFull.bytes), empty: Math.round(walEmptyAfterCheckpoint.bytes) },
    prune: { rows: pruned.access_tokens, seconds: round3(pruned.seconds), wall_seconds: round3(pruneSeconds), introspection_p99_ms: underPrune.p99, idle_p99_ms: idle.p99, p99_over_idle: round3(underPrune.p99 / Math.max(1, idle.p99)) },
  };
  writeFileSync(join(ROOT, 'bench', 'scale-results.json'), JSON.stringify(result, null, 2) + '\n');
  say('wrote bench/scale-results.json');
}

type Pair = { issue: Run; introspect: Run };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/**
 * Live rows spread over the next day and expired ones over the last, with digests as random as
 * real ones (an md5 pair is 64 hex characters, the width of latch's SHA-256 digests), in batches
 * so no single transaction holds millions of rows.
 */
async function seed(pool: pg.Client, clientUuid: string, userId: string, live: number, expired: number): Promise<void> {
  const batch = 500_000;
  const insert = (from: number, to: number, expiry: string) =>
    pool.query(
      `insert into access_tokens (token_digest, client_id, user_id, scope, kind, expires_at, created_at)
       select md5(i::text || 'a') || md5(i::text || 'b'), $1, $2, 'read', 'bearer', ${expiry}, now()
       from generate_series($3::bigint, $4::bigint) as i`,
      [clientUuid, userId, from, to],
    );
  for (let from = 1; from <= live; from += batch) {
    await insert(from, Math.min(live, from + batch - 1), `now() + (i % 86400) * interval '1 second' + interval '1 hour'`);
  }
  for (let from = live + 1; from <= live + expired; from += batch) {
    await insert(from, Math.min(live + expired, from + batch - 1), `now() - interval '2 days' - (i % 86400) * interval '1 second'`);
  }
  await pool.query('vacuum analyze access_tokens');
}

async function tableBytes(pool: pg.Pool): Promise<{ table: number; indexes: number }> {
  const r = await pool.query(`select pg_table_size('access_tokens') as t, pg_indexes_size('access_tokens') as i`);
  return { table: Number(r.rows[0].t), indexes: Number(r.rows[0].i) };
}

/**
 * WAL bytes and committed transactions of this database per request, over a fixed number of
 * sequential requests (`body(i)` gives the i-th form body; each must answer 200).
 */
async function walPer(side: Side, body: (i: number) => string) {
  const { pool, dbName, url, form: headers } = side;
  const position = async () => {
    const r = await pool.query(
      `select pg_current_wal_lsn()::text as lsn, (select xact_commit from pg_stat_database where datname = $1) as commits`,
      [dbName],
    );
    return { lsn: r.rows[0].lsn as string, commits: Number(r.rows[0].commits) };
  };
  // Busy backends report their counters at most once a second, idle ones within 10 s: let them settle.
  const settle = async () => {
    await new Promise((r) => setTimeout(r, 11_000));
    await pool.query('select pg_stat_clear_snapshot()');
  };
  await settle();
  const before = await position();
  for (let i = 0; i < WAL_SAMPLE; i++) {
    const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers, body: body(i) });
    if (r.status !== 200) throw new Error(`a token request answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  }
  await settle();
  const after = await position();
  const bytes = Number((await pool.query('select pg_wal_lsn_diff($1, $2) as d', [after.lsn, before.lsn])).rows[0].d);
  // Our own two reads are transactions too; other databases' WAL counts in the difference (a quiet server is assumed).
  return { bytes: bytes / WAL_SAMPLE, transactions: (after.commits - before.commits - 3) / WAL_SAMPLE };
}

async function runPrune(env: Record<string, string>): Promise<{ access_tokens: number; seconds: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'prune', '--json'], { env: { PATH: process.env.PATH, ...env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`bin/latch prune failed (exit ${code}): ${err}`);
  const counts = (JSON.parse(out) as { deleted: Record<string, number> }).deleted;
  return { access_tokens: counts.access_tokens ?? 0, seconds: (Date.now() - started) / 1000 };
}

const say = (line: string) => process.stdout.write(line + '\n');
const rps = (r: LoadResult | Run) =>
  `${r.rps.toFixed(0)} req/s (p99 ${r.p99} ms${'latchCpuUs' in r ? `; CPU µs/req latch ${r.latchCpuUs}, PostgreSQL ${r.postgresCpuUs}` : ''})`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const round3 = (x: number) => Number(x.toFixed(3));

const admin = (statement: string) => adminStatement(serverUrl, statement);

async function cleanup(): Promise<void> {
  stopAll();
  for (const drop of dropDatabases.splice(0)) await drop().catch(() => {});
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err) => {
  process.stderr.write(`bench:scale: ${(err as Error).message}\n`);
  await cleanup();
  process.exit(1);
});
