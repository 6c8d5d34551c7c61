/**
 * `npm run bench:scale`: does latch's cost stay flat as its tables grow? (issue 15, items 4 and 7,
 * and the figures of the README's "Scaling" section.)
 *
 * On a fresh PostgreSQL database: measures client_credentials issuance and introspection on an
 * empty database; seeds BENCH_SCALE_ROWS live token rows (default 5,000,000) and a fifth as many
 * expired ones with generate_series; measures again (and at c50, for peak memory); reports table
 * and index bytes per million tokens, WAL bytes and transactions per issuance, refresh and code
 * exchange (and per issuance again with the rows present, just after a checkpoint); then runs
 * `bin/latch prune` over the expired rows while introspection is under load and compares its
 * p99 with the idle figure.
 *
 * Env: BENCH_DATABASE_URL (default the local server), BENCH_SECONDS per run (default 5),
 * BENCH_SCALE_ROWS, BENCH_SCALE_DB_SETTINGS (see below). Prints a summary and writes bench/scale-results.json.
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
import { REDIRECT, seedCodes, seedLiveToken, seedRefreshTokens, VERIFIER } from './seed.js';
import { admin as adminStatement, drive, freePort, rss, start, startFlags, stop, stopAll } from './servers.js';

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

let dropDatabase: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const dbName = `latch_scale_${randomBytes(5).toString('hex')}`;
  await admin(`create database ${dbName}`);
  dropDatabase = () => admin(`drop database if exists ${dbName} with (force)`);
  for (const { name, value } of dbSettings) await admin(`alter database ${dbName} set ${name} = '${value}'`);
  if (dbSettings.length > 0) say(`database settings: ${dbSettings.map((d) => `${d.name}=${d.value}`).join(', ')}`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const handle = openPostgres(databaseUrl);
  await migrateToLatest(handle.db);
  const secrets = { LATCH_COOKIE_SECRET: randomBytes(24).toString('hex'), LATCH_KEY_SECRET: randomBytes(24).toString('hex') };
  const config = loadConfig({ DATABASE_URL: databaseUrl, ...secrets });
  const user = await createUser(handle.db, systemClock, { username: 'scale', password: 'load-test-passphrase-1', email: 'scale@example.com', isAdmin: false });
  const { client, secret } = await registerClient({ db: handle.db, clock: systemClock, config }, OPERATOR, {
    name: 'Scale',
    redirectUris: [REDIRECT],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
  });
  const pool = handle.pool!;
  const liveToken = await seedLiveToken(pool, client.id, user.id);

  const env = { DATABASE_URL: databaseUrl, ...secrets };
  const port = await freePort();
  const latchUrl = `http://127.0.0.1:${port}`;
  // With the flags `npm start` uses: memory is measured as latch is deployed.
  const latch = await start([...startFlags(ROOT).split(' ').filter(Boolean), SERVER], { ...env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' }, async () =>
    (await fetch(`${latchUrl}/readyz`).catch(() => null))?.status === 200 ? latchUrl : null,
  );
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`${client.client_id}:${secret}`).toString('base64') };
  const issue = (connections: number) => drive({ url: latchUrl, connections, seconds, method: 'POST', path: '/oauth/token', headers: form, body: 'grant_type=client_credentials&scope=read' });
  const introspect = (connections: number, secs = seconds) =>
    drive({ url: latchUrl, connections, seconds: secs, method: 'POST', path: '/oauth/introspect', headers: form, body: `token=${liveToken}` });

  await issue(10); // warm-up: JIT, pool connections
  const empty = { issue: await issue(10), introspect: await introspect(10) };
  say(`empty database:      issuance ${rps(empty.issue)}   introspection ${rps(empty.introspect)}`);
  const refreshTokens = await seedRefreshTokens(pool, client.id, user.id, WAL_SAMPLE);
  const codes = await seedCodes(pool, client.id, user.id, WAL_SAMPLE);
  const wal = {
    issuance: await walPer(pool, dbName, latchUrl, form, () => 'grant_type=client_credentials&scope=read'),
    refresh: await walPer(pool, dbName, latchUrl, form, (i) => `grant_type=refresh_token&refresh_token=${refreshTokens[i]}`),
    code_exchange: await walPer(pool, dbName, latchUrl, form, (i) => `grant_type=authorization_code&code=${codes[i]}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${VERIFIER}`),
  };
  for (const [what, w] of Object.entries(wal)) say(`per ${what}:`.padEnd(21) + `${w.bytes.toFixed(0)} WAL bytes, ${w.transactions.toFixed(2)} transactions`);

  const seedStarted = Date.now();
  // Its own connection: latch's pool gives up on a statement after 5 s, and a batch of seeding takes longer.
  const seeder = new pg.Client({ connectionString: databaseUrl });
  await seeder.connect();
  await seed(seeder, client.id, user.id, rows, expiredRows);
  await seeder.end();
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  const size = await tableBytes(pool);
  const tokenRows = Number((await pool.query('select count(*) from access_tokens')).rows[0].count);
  const perMillion = (b: number) => Math.round((b / tokenRows) * 1e6 / 2 ** 20);
  say(`seeded ${rows.toLocaleString('en')} live and ${expiredRows.toLocaleString('en')} expired rows in ${seedSeconds.toFixed(0)} s; ` +
    `access_tokens: ${mb(size.table)} MB table + ${mb(size.indexes)} MB indexes = ${perMillion(size.table)} + ${perMillion(size.indexes)} MB per million rows`);

  await issue(10); // warm-up against the big table (its index pages into the cache)
  const full = { issue: await issue(10), introspect: await introspect(10) };
  say(`${(rows / 1e6).toFixed(1)}M rows:           issuance ${rps(full.issue)} (${pct(full.issue.rps / empty.issue.rps)} of empty)   introspection ${rps(full.introspect)} (${pct(full.introspect.rps / empty.introspect.rps)} of empty)`);
  // What an issuance writes once the digest index is large: the first change of a page after a
  // checkpoint writes the whole page to the WAL (full_page_writes), and random digests touch new pages.
  await pool.query('checkpoint');
  const walFull = await walPer(pool, dbName, latchUrl, form, () => 'grant_type=client_credentials&scope=read');
  say(`per issuance at ${(rows / 1e6).toFixed(1)}M rows, just after a checkpoint: ${walFull.bytes.toFixed(0)} WAL bytes (empty: ${wal.issuance.bytes.toFixed(0)})`);
  const c50 = { issue: await issue(50), introspect: await introspect(50) };
  const memory = rss(latch.child.pid!).peak_rss_mb;
  say(`c50 at ${(rows / 1e6).toFixed(1)}M rows:    issuance ${rps(c50.issue)}   introspection ${rps(c50.introspect)}   latch peak RSS ${memory} MB`);

  // Prune under load: introspection's p99 while bin/latch prune deletes the expired rows in batches.
  const idle = await introspect(10);
  const pruneStarted = Date.now();
  const [underPrune, pruned] = await Promise.all([introspect(10, Math.max(seconds, 10)), runPrune(env)]);
  const pruneSeconds = (Date.now() - pruneStarted) / 1000;
  say(`prune of ${pruned.access_tokens.toLocaleString('en')} expired rows: ${pruned.seconds.toFixed(1)} s; introspection p99 ${underPrune.p99} ms during it vs ${idle.p99} ms idle (${(underPrune.p99 / Math.max(1, idle.p99)).toFixed(1)}×), ${rps(underPrune)}`);

  await stop(latch.child);
  await handle.close();
  await dropDatabase();
  dropDatabase = undefined;

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    seconds_per_run: seconds,
    database_settings: Object.fromEntries(dbSettings.map((d) => [d.name, d.value])),
    live_rows: rows,
    expired_rows: expiredRows,
    seed_seconds: Math.round(seedSeconds),
    empty: { issuance_rps: Math.round(empty.issue.rps), introspection_rps: Math.round(empty.introspect.rps), introspection_p99_ms: empty.introspect.p99 },
    full: { issuance_rps: Math.round(full.issue.rps), introspection_rps: Math.round(full.introspect.rps), introspection_p99_ms: full.introspect.p99 },
    full_over_empty: { issuance: round3(full.issue.rps / empty.issue.rps), introspection: round3(full.introspect.rps / empty.introspect.rps) },
    c50_full: { issuance_rps: Math.round(c50.issue.rps), introspection_rps: Math.round(c50.introspect.rps), latch_peak_rss_mb: memory },
    access_tokens_mb_per_million_rows: { table: perMillion(size.table), indexes: perMillion(size.indexes) },
    per_request: Object.fromEntries(Object.entries(wal).map(([k, w]) => [k, { wal_bytes: Math.round(w.bytes), transactions: round3(w.transactions) }])),
    issuance_wal_bytes_full_after_checkpoint: Math.round(walFull.bytes),
    prune: { rows: pruned.access_tokens, seconds: round3(pruned.seconds), wall_seconds: round3(pruneSeconds), introspection_p99_ms: underPrune.p99, idle_p99_ms: idle.p99, p99_over_idle: round3(underPrune.p99 / Math.max(1, idle.p99)) },
  };
  writeFileSync(join(ROOT, 'bench', 'scale-results.json'), JSON.stringify(result, null, 2) + '\n');
  say('wrote bench/scale-results.json');
}

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
async function walPer(pool: pg.Pool, dbName: string, url: string, headers: Record<string, string>, body: (i: number) => string) {
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
const rps = (r: LoadResult) => `${r.rps.toFixed(0)} req/s (p99 ${r.p99} ms)`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const round3 = (x: number) => Number(x.toFixed(3));

const admin = (statement: string) => adminStatement(serverUrl, statement);

async function cleanup(): Promise<void> {
  stopAll();
  await dropDatabase?.().catch(() => {});
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err) => {
  process.stderr.write(`bench:scale: ${(err as Error).message}\n`);
  await cleanup();
  process.exit(1);
});
