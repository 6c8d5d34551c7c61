/**
 * `npm run bench`: latch against the architectural limit of its design
 * (bench/reference.ts, a bare server doing the one statement each request
 * needs), on real PostgreSQL and on embedded PGlite, driven by autocannon from
 * a separate process on loopback; sign-in against the machine's argon2 budget;
 * optionally an older build of latch in the same run (BENCH_COMPARE_REF).
 *
 * Env (see docs): BENCH_DATABASE_URL, BENCH_SECONDS, BENCH_CONNECTIONS,
 * BENCH_SCENARIOS (names or groups), BENCH_RUNS, BENCH_PROFILE, BENCH_NODE_FLAGS,
 * BENCH_LOG_LEVEL, BENCH_COMPARE_REF, BENCH_COMPARE_KEEP.
 * Prints a table and writes bench/results.json; a full run (or BENCH_SCENARIOS
 * naming `scale`) ends with bench/scale.ts, which writes bench/scale-results.json.
 */
import { CompiledQuery } from 'kysely';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { digest, newSecret, PREFIX } from '../src/crypto/secrets.js';
import { openDatabaseShared, openEmbedded } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { LoadJob, LoadResult } from './load.js';
import { buildRef, type OtherBuild } from './compare.js';
import { REDIRECT, VERIFIER, seedCodes, seedDeviceCodes, seedLiveToken, seedRefreshTokens, type Queryable } from './seed.js';
import { admin as adminStatement, cpuMicros, cpuSince, drive, freePort, postgresCpu, probe, rss, start, startFlags, stop, stopAll, threadCpuMicros, type ProbeResult, type Server } from './servers.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const REFERENCE = join(ROOT, 'dist', 'bench', 'reference.js');
const ARGON2 = join(ROOT, 'dist', 'bench', 'argon2-rate.js');
const ELD = join(ROOT, 'dist', 'bench', 'eld-preload.js');
const SCALE = join(ROOT, 'dist', 'bench', 'scale.js');

const serverUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS || 5);
const connectionLevels = (process.env.BENCH_CONNECTIONS || '10,50').split(',').map(Number);
const runs = Math.max(1, Number(process.env.BENCH_RUNS || 1));
const profile = process.env.BENCH_PROFILE === '1';
const compareRef = process.env.BENCH_COMPARE_REF || undefined;
/** BENCH_BASE_REF: run another commit in this build's place (to compare two older builds, e.g. a refactor's before and after). */
const baseRef = process.env.BENCH_BASE_REF || undefined;
/** Node flags for latch: those `npm start` uses (package.json), unless BENCH_NODE_FLAGS says otherwise. */
const LATCH_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? startFlags(ROOT)).split(' ').filter(Boolean);
const PASSWORD = 'load-test-passphrase-1';
/** Enough single-use items for a run at the fastest rate seen on these machines, with room to spare. */
const perRun = Math.ceil(6000 * seconds * 1.2) + 1000;
/** Client addresses sign-in and registration load is spread over (X-Forwarded-For through a trusted loopback proxy). */
const ADDRESSES = 200;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

type Job = Omit<LoadJob, 'url' | 'connections' | 'seconds'>;
type Measured = LoadResult & {
  cpuPerRequest: number;
  ok: number;
  /** Of `cpuPerRequest`, the measured process's main thread (the event loop); the rest is its other threads. */
  mainThreadCpuPerRequest?: number;
  /** PostgreSQL's CPU per request: all its processes on the machine (idle ones in the embedded mode). */
  postgresCpuPerRequest?: number;
};

interface Creds {
  clientId: string;
  uuid: string;
  basic: string;
  secretDigest: string;
}

/** One latch server and what the scenarios need to drive it. */
interface LatchTarget {
  label: string;
  server: Server;
  db: Queryable;
  closeDb(): Promise<void>;
  main: Creds;
  userId: string;
  liveToken: string;
  oidc?: Record<'RS256' | 'ES256', Creds>;
  /** The client issued JWT access tokens, or why there is none. */
  jwt?: Creds | string;
  eldFile?: string;
}

interface ReferenceTarget {
  server: Server;
  db: Queryable;
  main: Creds;
  userId: string;
  liveToken: string;
}

type Group = 'core' | 'oidc' | 'device' | 'jwt' | 'registration' | 'signin' | 'embedded' | 'workers';

interface Scenario {
  name: string;
  group: Group;
  /** What latch is compared with; part of the results' keys. */
  limit: string;
  compares: string;
  /**
   * Which latch serves it: the PostgreSQL one, the one trusting a loopback proxy (sign-in, registration),
   * the embedded one, or one with LATCH_WORKERS=2 on the same database.
   */
  via: 'latch' | 'proxy' | 'embedded' | 'workers';
  /** Statuses that count as the expected answer (default: 2xx). */
  expect?: number[];
  /** Also run against the older build (BENCH_COMPARE_REF). */
  ab?: boolean;
  /** Measure event-loop delay and /healthz latency during the load. */
  responsiveness?: boolean;
  /** A reason to skip, found once at setup (a feature this build lacks). */
  skip?(ctx: Ctx): Promise<string | undefined>;
  latch(t: LatchTarget): Promise<Job>;
  reference?(r: ReferenceTarget): Promise<Job>;
}

interface Row {
  scenario: Scenario;
  connections: number;
  run: number;
  latch: Measured;
  limit: Measured;
  other?: Measured;
  responsiveness?: Responsiveness;
}

interface Responsiveness {
  latch_event_loop: { p99_ms: number; max_ms: number } | null;
  latch_healthz: ProbeResult;
  reference_event_loop: { p99_ms: number; max_ms: number };
  reference_health: ProbeResult;
}

const cleanups: (() => Promise<void> | void)[] = [];

async function main(): Promise<void> {
  const only = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean);
  const scenarios = allScenarios().filter((s) => !only || only.includes(s.name) || only.includes(s.group) || (only.includes('new') && ['oidc', 'device', 'jwt', 'registration', 'signin', 'workers'].includes(s.group)));
  // The large-table run (bench/scale.ts) is part of a full run, last: it seeds millions of rows.
  const scale = !only || only.includes('scale');
  if (scenarios.length === 0 && !scale) throw new Error(`BENCH_SCENARIOS matches nothing; scenarios: ${allScenarios().map((s) => s.name).join(', ')}, scale`);
  if (scenarios.length > 0) await runScenarios(scenarios);
  if (scale) await runScale();
}

/** bench/scale.ts in a process of its own, printing as it goes; it writes bench/scale-results.json. */
async function runScale(): Promise<void> {
  process.stdout.write('\nscale: two databases, one seeded with millions of token rows (bench/scale.ts)\n');
  const child = spawn(process.execPath, [SCALE], { stdio: 'inherit', env: process.env });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`bench/scale.ts failed (exit ${code})`);
}

async function runScenarios(scenarios: Scenario[]): Promise<void> {
  const uses = (via: Scenario['via']) => scenarios.some((s) => s.via === via);
  const other = compareRef && scenarios.some((s) => s.ab) ? buildRef(ROOT, compareRef, (l) => process.stdout.write(l + '\n')) : undefined;
  if (other) cleanups.push(() => other.remove());
  const base = baseRef ? buildRef(ROOT, baseRef, (l) => process.stdout.write(l + '\n')) : undefined;
  if (base) cleanups.push(() => base.remove());

  const cookieSecret = randomBytes(24).toString('hex');
  const keySecret = randomBytes(24).toString('hex');
  const secrets = { LATCH_COOKIE_SECRET: cookieSecret, LATCH_KEY_SECRET: keySecret };
  const profileDir = join(ROOT, 'bench', 'profiles');
  if (profile) mkdirSync(profileDir, { recursive: true });

  const targets: { latch?: LatchTarget; proxy?: Server; workers?: Server; embedded?: LatchTarget; other?: LatchTarget } = {};
  let reference: ReferenceTarget | undefined;
  let embeddedReference: ReferenceTarget | undefined;

  if (uses('latch') || uses('proxy') || uses('workers')) {
    const databaseUrl = await freshDatabase('latch');
    targets.latch = base
      ? await setupLatch(`latch@${base.sha}`, base.dir, { DATABASE_URL: databaseUrl, ...secrets }, { profileDir, old: true })
      : await setupLatch('latch', ROOT, { DATABASE_URL: databaseUrl, ...secrets }, { profileDir });
    reference = await startReference({ DATABASE_URL: databaseUrl }, targets.latch, profileDir);
    if (uses('proxy')) {
      const signInProfile = join(profileDir, 'sign-in');
      targets.proxy = await startLatch(ROOT, { DATABASE_URL: databaseUrl, ...secrets, LATCH_TRUST_PROXY: '127.0.0.1', LATCH_REGISTRATION: 'open' },
        profile ? ['--cpu-prof', '--cpu-prof-dir', signInProfile] : []);
    }
    if (uses('workers')) {
      // Started after the first: it needs the user and clients setupLatch made; its CPU counts its workers (servers.ts).
      targets.workers = await startLatch(ROOT, { DATABASE_URL: databaseUrl, ...secrets, LATCH_WORKERS: '2' });
    }
    if (other) {
      targets.other = await setupLatch(`latch@${other.sha}`, other.dir, { DATABASE_URL: await freshDatabase('other'), ...secrets }, { old: true });
    }
  }
  if (uses('embedded')) {
    const latchDir = tempDir('latch-bench-embedded-');
    targets.embedded = await setupLatch('latch (embedded)', ROOT, { LATCH_DATA_DIR: latchDir, ...secrets }, { eld: true, profileDir: join(profileDir, 'embedded') });
    embeddedReference = await startEmbeddedReference();
  }

  const context = { targets, other };
  const skipped: Record<string, string> = {};
  for (const s of scenarios) {
    const reason = await s.skip?.(context);
    if (reason) {
      skipped[s.name] = reason;
      process.stdout.write(`${s.name}: skipped: ${reason}\n`);
    }
  }
  const active = scenarios.filter((s) => !skipped[s.name]);

  const argon2 = active.some((s) => s.group === 'signin') ? await argon2Rate() : undefined;
  if (argon2) process.stdout.write(`argon2: ${argon2.hashes_per_s} verifications/s, ${argon2.cpu_us_per_hash} µs CPU each (${argon2.params}, ${argon2.concurrency} at once)\n`);

  // Warm every server up (JIT, pool connections) before measuring.
  for (const t of [targets.latch, targets.other, targets.embedded]) {
    if (t) await drive({ url: t.server.url, connections: 10, seconds: 2, ...clientCredentials(t.main) });
  }
  if (targets.workers) await drive({ url: targets.workers.url, connections: 10, seconds: 2, ...clientCredentials(targets.latch!.main) });
  // The sign-in process serves only sign-ins, at tens a second where the others serve thousands: it
  // takes hundreds of them for V8 to optimise their code (its main thread's CPU per sign-in fell from
  // 4.4 to 2.9 ms over the first three runs without this), so it is warmed longer.
  const firstSignIn = active.find((s) => s.group === 'signin');
  if (targets.proxy && firstSignIn) await drive({ url: targets.proxy.url, connections: 10, seconds: 15, ...(await firstSignIn.latch(targets.latch!)) });
  for (const r of [reference, embeddedReference]) {
    if (r) await drive({ url: r.server.url, connections: 10, seconds: 2, method: 'POST', path: '/token', headers: form(r.main), body: 'grant_type=client_credentials&scope=read' });
  }

  const idleHealth = targets.embedded ? await probe(`${targets.embedded.server.url}/healthz`, delay(1000)) : undefined;

  const rows: Row[] = [];
  // The machine may be shared, so its speed drifts: each latch run is compared with
  // the mean of the limit runs just before and just after it (one run serves as
  // "after" for one scenario and "before" for the next).
  const lastLimit = new Map<string, Measured>();
  for (let run = 1; run <= runs; run++) {
    for (const connections of connectionLevels) {
      for (const s of active) {
        const latch = s.via === 'embedded' ? targets.embedded! : targets.latch!;
        const beside = s.via === 'proxy' ? targets.proxy : s.via === 'workers' ? targets.workers : undefined;
        const latchUrl = beside ? beside.url : latch.server.url;
        const latchPid = beside ? beside.child.pid! : latch.server.child.pid!;
        const ref = s.via === 'embedded' ? embeddedReference : reference;
        const runLimit = async (): Promise<Measured> => {
          if (!s.reference) return argon2Measured(await argon2Rate());
          return measured(ref!.server.child.pid!, { url: ref!.server.url, connections, seconds, ...(await s.reference(ref!)) }, s.expect);
        };
        const key = `${s.limit}.c${connections}`;
        const before = lastLimit.get(key) ?? (await runLimit());

        let responsiveness: Responsiveness | undefined;
        const runLatch = async (t: LatchTarget, url: string, pid: number) => {
          const job: LoadJob = { url, connections, seconds, ...(await s.latch(t)) };
          if (!s.responsiveness) return measured(pid, job, s.expect);
          await eventLoop(t);
          const load = measured(pid, job, s.expect);
          const health = probe(`${url}/healthz`, load);
          const result = await load;
          responsiveness = { latch_event_loop: await eventLoop(t), latch_healthz: await health } as Responsiveness;
          return result;
        };
        const runOther = () => runLatch(targets.other!, targets.other!.server.url, targets.other!.server.child.pid!);
        // Alternate which build goes first, so neither always meets the warmer database.
        const otherFirst = s.ab && targets.other && run % 2 === 0;
        const otherA = otherFirst ? await runOther() : undefined;
        const result = await runLatch(latch, latchUrl, latchPid);
        const otherB = s.ab && targets.other && !otherFirst ? await runOther() : undefined;

        let after: Measured;
        if (s.responsiveness && ref) {
          await getJson(`${ref.server.url}/eld`);
          const load = runLimit();
          const health = probe(`${ref.server.url}/health`, load);
          after = await load;
          const eld = (await getJson(`${ref.server.url}/eld`)) as { p99_ms: number; max_ms: number };
          responsiveness = { ...responsiveness!, reference_event_loop: eld, reference_health: await health };
        } else {
          after = await runLimit();
        }
        lastLimit.set(key, after);
        const row: Row = { scenario: s, connections, run, latch: result, limit: meanOf(before, after), other: otherA ?? otherB, responsiveness };
        rows.push(row);
        printRow(row, other);
      }
    }
  }

  const signinResponsiveness = targets.proxy && active.some((s) => s.group === 'signin') ? await introspectionUnderSignIn(targets.latch!, targets.proxy) : undefined;
  if (signinResponsiveness) {
    process.stdout.write(
      `introspection p99 on the sign-in process: ${signinResponsiveness.idle.p99_ms} ms idle, ${signinResponsiveness.under_login.p99_ms} ms while ${signinResponsiveness.logins_per_s.toFixed(0)} logins/s saturate argon2 (${signinResponsiveness.p99_over_idle.toFixed(1)}×)\n`,
    );
  }

  const memory: Record<string, ReturnType<typeof rss>> = {};
  if (targets.latch) memory.latch = rss(targets.latch.server.child.pid!);
  if (targets.workers) memory.latch_workers_primary = rss(targets.workers.child.pid!);
  if (targets.proxy) memory.latch_sign_in = rss(targets.proxy.child.pid!);
  if (targets.other) memory[`latch_${other!.sha}`] = rss(targets.other.server.child.pid!);
  if (targets.embedded) memory.latch_embedded = rss(targets.embedded.server.child.pid!);
  if (reference) memory.reference = rss(reference.server.child.pid!);
  if (embeddedReference) memory.reference_embedded = rss(embeddedReference.server.child.pid!);

  await cleanup();
  printTable(rows, memory, other);
  const results = { ...toJson(rows, { memory, skipped, argon2, idleHealth, other }), introspection_under_signin: signinResponsiveness ?? null };
  writeFileSync(join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\nwrote bench/results.json${profile ? '; CPU profiles in bench/profiles/' : ''}\n`);
}

// ---------------------------------------------------------------- scenarios

const form = (c: Creds) => ({ 'content-type': 'application/x-www-form-urlencoded', authorization: c.basic });
const clientCredentials = (c: Creds): Job => ({ method: 'POST', path: '/oauth/token', headers: form(c), body: 'grant_type=client_credentials&scope=read' });
const codeBody = `code={{item}}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${VERIFIER}`;

function allScenarios(): Scenario[] {
  const oidc = (alg: 'RS256' | 'ES256'): Scenario => ({
    name: `oidc_code_${alg.toLowerCase()}`,
    group: 'oidc',
    limit: `exchange_${alg.toLowerCase()}`,
    compares: `code exchange with scope openid, ${alg} ID token ÷ the reference consuming the code and inserting grant and pair in one statement, then signing a ${alg} ID token`,
    via: 'latch',
    latch: async (t) => ({
      method: 'POST', path: '/oauth/token', headers: form(t.oidc![alg]), itemIn: 'body',
      body: `grant_type=authorization_code&${codeBody}`,
      items: await seedCodes(t.db, t.oidc![alg].uuid, t.userId, perRun, true),
    }),
    reference: async (r) => ({
      method: 'POST', path: `/exchange?alg=${alg}`, headers: form(r.main), itemIn: 'body',
      body: `grant_type=authorization_code&${codeBody}`,
      items: await seedCodes(r.db, r.main.uuid, r.userId, perRun, true),
    }),
  });
  const signIn = (name: string, job: (t: LatchTarget, proxyUrl: string) => Promise<Job>, expect: number[], compares: string): Scenario => ({
    name, group: 'signin', limit: 'argon2', compares, via: 'proxy', expect,
    latch: async (t) => ({ ...(await job(t, proxyUrlOf())), addresses: ADDRESSES }),
  });
  return [
    {
      name: 'client_credentials', group: 'core', limit: 'insert', via: 'latch', ab: true,
      compares: 'client_credentials issuance ÷ the reference inserting one token row',
      latch: async (t) => clientCredentials(t.main),
      reference: async (r) => ({ method: 'POST', path: '/token', headers: form(r.main), body: 'grant_type=client_credentials&scope=read' }),
    },
    {
      name: 'refresh_token', group: 'core', limit: 'rotate', via: 'latch', ab: true,
      compares: 'refresh rotation ÷ the reference retiring the refresh pair and inserting the new pair in one statement',
      latch: async (t) => ({
        method: 'POST', path: '/oauth/token', headers: form(t.main), itemIn: 'body',
        body: 'grant_type=refresh_token&refresh_token={{item}}',
        items: await seedRefreshTokens(t.db, t.main.uuid, t.userId, perRun),
      }),
      reference: async (r) => ({
        method: 'POST', path: '/rotate', headers: form(r.main), itemIn: 'body',
        body: 'grant_type=refresh_token&refresh_token={{item}}',
        items: await seedRefreshTokens(r.db, r.main.uuid, r.userId, perRun),
      }),
    },
    {
      name: 'authorization_code', group: 'core', limit: 'exchange', via: 'latch', ab: true,
      compares: 'code exchange with PKCE ÷ the reference consuming the code and inserting grant and pair in one statement',
      latch: async (t) => ({
        method: 'POST', path: '/oauth/token', headers: form(t.main), itemIn: 'body',
        body: `grant_type=authorization_code&${codeBody}`,
        items: await seedCodes(t.db, t.main.uuid, t.userId, perRun),
      }),
      reference: async (r) => ({
        method: 'POST', path: '/exchange', headers: form(r.main), itemIn: 'body',
        body: `grant_type=authorization_code&${codeBody}`,
        items: await seedCodes(r.db, r.main.uuid, r.userId, perRun),
      }),
    },
    {
      name: 'introspect', group: 'core', limit: 'lookup', via: 'latch', ab: true,
      compares: 'introspection of a live token ÷ the reference selecting one token row by digest',
      latch: async (t) => ({ method: 'POST', path: '/oauth/introspect', headers: form(t.main), body: `token=${t.liveToken}` }),
      reference: async (r) => ({ method: 'POST', path: '/lookup', headers: form(r.main), body: `token=${r.liveToken}` }),
    },
    {
      name: 'userinfo', group: 'core', limit: 'lookup_get', via: 'latch', ab: true,
      compares: 'GET /oauth/userinfo ÷ the reference selecting one token row by the bearer digest',
      latch: async (t) => ({ method: 'GET', path: '/oauth/userinfo', headers: { authorization: `Bearer ${t.liveToken}` } }),
      reference: async (r) => ({ method: 'GET', path: '/lookup', headers: { authorization: `Bearer ${r.liveToken}` } }),
    },
    oidc('RS256'),
    oidc('ES256'),
    {
      name: 'device_poll', group: 'device', limit: 'poll', via: 'latch', expect: [400],
      compares: 'device-code polls answered authorization_pending ÷ the reference recording the poll in one statement',
      latch: async (t) => ({
        method: 'POST', path: '/oauth/token', headers: form(t.main), itemIn: 'body',
        body: `grant_type=${encodeURIComponent(DEVICE_GRANT)}&device_code={{item}}`,
        items: await seedDeviceCodes(t.db, t.main.uuid, perRun),
      }),
      reference: async (r) => ({
        method: 'POST', path: '/poll', headers: form(r.main), itemIn: 'body',
        body: `grant_type=${encodeURIComponent(DEVICE_GRANT)}&device_code={{item}}`,
        items: await seedDeviceCodes(r.db, r.main.uuid, perRun),
      }),
    },
    {
      name: 'jwt_client_credentials', group: 'jwt', limit: 'insert_jwt', via: 'latch',
      compares: 'client_credentials issuance of a JWT access token ÷ the reference signing an RS256 JWT and inserting one token row',
      skip: async (ctx) => {
        const jwt = ctx.targets.latch?.jwt;
        if (typeof jwt === 'string' || !jwt) return `no JWT access tokens in this build (client create --access-token-format jwt: ${jwt ?? 'not tried'})`;
        const r = await fetch(`${ctx.targets.latch!.server.url}/oauth/token`, { method: 'POST', headers: form(jwt), body: 'grant_type=client_credentials&scope=read' });
        const token = ((await r.json().catch(() => ({}))) as { access_token?: string }).access_token;
        if (r.status !== 200 || !token || token.split('.').length !== 3) return `a client made with --access-token-format jwt did not get a JWT (status ${r.status})`;
        return undefined;
      },
      latch: async (t) => clientCredentials(t.jwt as Creds),
      reference: async (r) => ({ method: 'POST', path: '/token?jwt=1', headers: form(r.main), body: 'grant_type=client_credentials&scope=read' }),
    },
    {
      name: 'registration', group: 'registration', limit: 'register', via: 'proxy', expect: [201],
      compares: 'POST /oauth/register ÷ the reference inserting one client row',
      skip: async (ctx) => {
        const url = ctx.targets.proxy?.url ?? ctx.targets.latch?.server.url;
        if (!url) return 'no PostgreSQL latch in this run';
        const r = await fetch(`${url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.8.0.1' }, body: registrationBody });
        if (r.status === 201) return undefined;
        const body = await r.text();
        return `POST /oauth/register answered ${r.status}${r.status === 404 ? ' (no registration endpoint in this build)' : ''}: ${body.slice(0, 160)}`;
      },
      latch: async () => ({ method: 'POST', path: '/oauth/register', headers: { 'content-type': 'application/json' }, body: registrationBody, addresses: ADDRESSES }),
      reference: async () => ({ method: 'POST', path: '/register', headers: { 'content-type': 'application/json' }, body: registrationBody }),
    },
    signIn(
      'login',
      async (_t, url) => {
        const { cookie, csrf } = await loginForm(url);
        return {
          method: 'POST', path: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
          body: `username=bench&password=${encodeURIComponent(PASSWORD)}&_csrf=${encodeURIComponent(csrf)}&return_to=%2F`,
        };
      },
      [303],
      'successful sign-ins through POST /login (303) per second ÷ the machine’s argon2 verifications per second, same parameters',
    ),
    signIn(
      'password_grant',
      async (t) => ({ method: 'POST', path: '/oauth/token', headers: form(t.main), body: `grant_type=password&username=bench&password=${encodeURIComponent(PASSWORD)}&scope=read` }),
      [200],
      'password-grant issuances per second ÷ the machine’s argon2 verifications per second, same parameters',
    ),
    {
      name: 'workers2_client_credentials', group: 'workers', limit: 'insert', via: 'workers',
      compares: 'client_credentials issuance by latch with LATCH_WORKERS=2 (CPU: primary and workers) ÷ the reference inserting one token row',
      latch: async (t) => clientCredentials(t.main),
      reference: async (r) => ({ method: 'POST', path: '/token', headers: form(r.main), body: 'grant_type=client_credentials&scope=read' }),
    },
    {
      name: 'workers2_introspect', group: 'workers', limit: 'lookup', via: 'workers',
      compares: 'introspection by latch with LATCH_WORKERS=2 ÷ the reference selecting one token row by digest',
      latch: async (t) => ({ method: 'POST', path: '/oauth/introspect', headers: form(t.main), body: `token=${t.liveToken}` }),
      reference: async (r) => ({ method: 'POST', path: '/lookup', headers: form(r.main), body: `token=${r.liveToken}` }),
    },
    {
      name: 'embedded_client_credentials', group: 'embedded', limit: 'embedded_insert', via: 'embedded', responsiveness: true,
      compares: 'client_credentials issuance on PGlite ÷ a bare Fastify + PGlite server inserting one token row',
      latch: async (t) => clientCredentials(t.main),
      reference: async (r) => ({ method: 'POST', path: '/token', headers: form(r.main), body: 'grant_type=client_credentials&scope=read' }),
    },
    {
      name: 'embedded_introspect', group: 'embedded', limit: 'embedded_lookup', via: 'embedded', responsiveness: true,
      compares: 'introspection on PGlite ÷ a bare Fastify + PGlite server selecting one token row by digest',
      latch: async (t) => ({ method: 'POST', path: '/oauth/introspect', headers: form(t.main), body: `token=${t.liveToken}` }),
      reference: async (r) => ({ method: 'POST', path: '/lookup', headers: form(r.main), body: `token=${r.liveToken}` }),
    },
    {
      // latch's one statement joins the token to its client and user (the answer names both, and a
      // suspended client's tokens are inactive); the join cost the bare PGlite server 15–20% of its rate.
      name: 'embedded_introspect_joined', group: 'embedded', limit: 'embedded_lookup_joined', via: 'embedded',
      compares: 'introspection on PGlite ÷ a bare Fastify + PGlite server selecting the token row joined with its client and user (the shape of latch’s statement)',
      latch: async (t) => ({ method: 'POST', path: '/oauth/introspect', headers: form(t.main), body: `token=${t.liveToken}` }),
      reference: async (r) => ({ method: 'POST', path: '/lookup-joined', headers: form(r.main), body: `token=${r.liveToken}` }),
    },
  ];
}

interface Ctx {
  targets: { latch?: LatchTarget; proxy?: Server; workers?: Server; embedded?: LatchTarget; other?: LatchTarget };
  other?: OtherBuild;
}

const registrationBody = JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'Bench registration', grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic' });

let proxyUrl: string | undefined;
const proxyUrlOf = () => proxyUrl!;

/** The login form's CSRF cookie and field, fetched once: they stay valid for every post from this "browser". */
async function loginForm(url: string): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(`${url}/login`);
  const html = await r.text();
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = html.match(/name="_csrf" value="([^"]+)"/)?.[1];
  if (!csrf) throw new Error('the login page has no _csrf field');
  return { cookie, csrf };
}

// ---------------------------------------------------------------- servers

async function freshDatabase(tag: string): Promise<string> {
  const name = `latch_bench_${tag}_${randomBytes(4).toString('hex')}`;
  await admin(`create database ${name}`);
  cleanups.push(() => admin(`drop database if exists ${name} with (force)`).catch(() => {}));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startLatch(dir: string, env: Record<string, string>, extraFlags: string[] = []): Promise<Server> {
  const port = await freePort();
  const server = await start(
    [...LATCH_NODE_FLAGS, ...extraFlags, join(dir, 'dist', 'src', 'server.js')],
    { ...env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'info' },
    async () => ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200 ? `http://127.0.0.1:${port}` : null),
    { cwd: dir },
  );
  cleanups.push(() => stop(server.child));
  if (env.LATCH_TRUST_PROXY) proxyUrl = server.url;
  return server;
}

/** `bin/latch …` of the build in `dir`; the server may be running (embedded mode goes through its socket). */
function cli(dir: string, env: Record<string, string>, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'latch'), ...args, '--json'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', cwd: dir });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

/**
 * Starts latch from the build in `dir`, then gives it a user and clients through
 * its own command line (the contract every build shares) and a live token.
 */
async function setupLatch(label: string, dir: string, env: Record<string, string>, opts: { profileDir?: string; old?: boolean; eld?: boolean }): Promise<LatchTarget> {
  const eldFile = opts.eld ? join(tempDir('latch-bench-eld-'), 'eld.json') : undefined;
  const flags = [
    ...(profile && opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : []),
    ...(eldFile ? ['--import', ELD] : []),
  ];
  const server = await startLatch(dir, { ...env, ...(eldFile ? { BENCH_ELD_FILE: eldFile } : {}) }, flags);
  let db: pg.Pool;
  let closeDb: () => Promise<void>;
  if (env.DATABASE_URL) {
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
    db = pool;
    closeDb = () => pool.end();
  } else {
    // The server holds the directory; this reaches it through the socket it lends to bin/latch.
    const handle = await openDatabaseShared({ dataDir: env.LATCH_DATA_DIR!, databaseUrl: undefined });
    db = handle.pool!;
    closeDb = () => handle.close();
  }
  cleanups.push(() => closeDb().catch(() => {}));

  const user = cli(dir, env, ['user', 'create', '--username', 'bench', '--password', PASSWORD, '--email', 'bench@example.com']);
  if (user.code !== 0) throw new Error(`${label}: user create failed: ${user.err}`);
  const userId = JSON.parse(user.out).id as string;
  const grants = ['authorization_code', 'refresh_token', 'password', 'client_credentials', ...(opts.old ? [] : ['device_code'])].join(',');
  const client = async (name: string, extra: string[] = []): Promise<Creds | string> => {
    const r = cli(dir, env, ['client', 'create', '--name', name, '--redirect-uri', REDIRECT, '--grant-types', grants, ...extra]);
    if (r.code !== 0) {
      const said = r.err.trim().split('\n').filter((l) => !l.startsWith('latch: database:')).join(' ');
      return (said.split('. ')[0] ?? '').slice(0, 200) || `exit ${r.code}`;
    }
    const { client_id, client_secret } = JSON.parse(r.out) as { client_id: string; client_secret: string };
    const row = (await db.query('select id, secret_digest from clients where client_id = $1', [client_id])).rows[0]!;
    return { clientId: client_id, uuid: String(row.id), secretDigest: String(row.secret_digest), basic: 'Basic ' + Buffer.from(`${client_id}:${client_secret}`).toString('base64') };
  };
  const main = await client('Bench');
  if (typeof main === 'string') throw new Error(`${label}: client create failed: ${main}`);
  const target: LatchTarget = { label, server, db, closeDb, main, userId, liveToken: await seedLiveToken(db, main.uuid, userId), eldFile };
  if (!opts.old && env.DATABASE_URL) {
    const oidc = {} as Record<'RS256' | 'ES256', Creds>;
    for (const alg of ['RS256', 'ES256'] as const) {
      const c = await client(`Bench OIDC ${alg}`);
      if (typeof c === 'string') throw new Error(`${label}: client create failed: ${c}`);
      // Set in the table: the command line may not offer --id-token-alg yet; no request has read the client.
      await db.query('update clients set id_token_alg = $1 where id = $2', [alg, c.uuid]);
      oidc[alg] = c;
    }
    target.oidc = oidc;
    target.jwt = await client('Bench JWT', ['--access-token-format', 'jwt']);
  }
  return target;
}

async function startReference(env: Record<string, string>, latch: LatchTarget, profileDir: string): Promise<ReferenceTarget> {
  const server = await start(
    [...(profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'reference')] : []), REFERENCE],
    { ...env, CLIENT_ID: latch.main.clientId, CLIENT_UUID: latch.main.uuid, SECRET_DIGEST: latch.main.secretDigest },
    async (out) => referenceUrl(out),
  );
  cleanups.push(() => stop(server.child));
  return { server, db: latch.db, main: latch.main, userId: latch.userId, liveToken: latch.liveToken };
}

function referenceUrl(out: string): string | null {
  const m = out.match(/\{"port":"?(\d+)"?\}/);
  return m ? `http://127.0.0.1:${m[1]}` : null;
}

/**
 * The embedded limit: its own PGlite directory with latch's schema, one client
 * row and one live token, prepared here and then opened by the reference alone.
 */
async function startEmbeddedReference(): Promise<ReferenceTarget> {
  const dir = tempDir('latch-bench-embedded-reference-');
  const handle = await openEmbedded(dir);
  await migrateToLatest(handle.db);
  const secret = newSecret(PREFIX.clientSecret);
  const clientId = `bench_ref_${randomBytes(6).toString('hex')}`;
  const uuid = randomUUID();
  const now = new Date();
  const q = (text: string, params: unknown[]) => handle.db.executeQuery(CompiledQuery.raw(text, params));
  await q(
    `insert into clients (id, client_id, secret_digest, name, status, redirect_uris, scopes, grant_types, is_confidential, created_at, updated_at)
     values ($1, $2, $3, 'Bench reference', 'active', $4, $5, $6, true, $7, $7)`,
    [uuid, clientId, digest(secret), [REDIRECT], ['read'], ['client_credentials'], now],
  );
  const userId = randomUUID();
  await q(`insert into users (id, username, email, password_hash, created_at) values ($1, 'bench_ref', null, 'not a hash', $2)`, [userId, now]);
  const liveToken = newSecret(PREFIX.accessToken);
  await q(`insert into access_tokens (token_digest, client_id, user_id, scope, kind, expires_at, created_at) values ($1, $2, $3, 'read', 'bearer', now() + interval '1 day', now())`, [digest(liveToken), uuid, userId]);
  await handle.close();
  const server = await start([REFERENCE], { PGLITE_DIR: dir, CLIENT_ID: clientId, CLIENT_UUID: uuid, SECRET_DIGEST: digest(secret) }, async (out) => referenceUrl(out));
  cleanups.push(() => stop(server.child));
  const main: Creds = { clientId, uuid, secretDigest: digest(secret), basic: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64') };
  return { server, db: { query: async () => ({ rows: [] }) }, main, userId, liveToken };
}

// ---------------------------------------------------------------- measuring

/**
 * Issue 15's "sign-in under load": introspection's p99 on the process that signs
 * people in, first idle, then while POST /login saturates the argon2 budget (the
 * bounded hashing limiter must keep token checks flowing).
 */
async function introspectionUnderSignIn(latch: LatchTarget, proxy: Server) {
  const request = { method: 'POST', headers: form(latch.main), body: `token=${latch.liveToken}` };
  const idle = await probe(`${proxy.url}/oauth/introspect`, delay(Math.max(2000, seconds * 1000)), 20, request);
  const { cookie, csrf } = await loginForm(proxy.url);
  const load = drive({
    url: proxy.url, connections: 50, seconds,
    method: 'POST', path: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: `username=bench&password=${encodeURIComponent(PASSWORD)}&_csrf=${encodeURIComponent(csrf)}&return_to=%2F`,
    addresses: ADDRESSES,
  });
  const underLogin = await probe(`${proxy.url}/oauth/introspect`, load, 20, request);
  const logins = await load;
  return { idle, under_login: underLogin, logins_per_s: logins.rps, p99_over_idle: round(underLogin.p99_ms / Math.max(0.1, idle.p99_ms)) ?? 0 };
}

/**
 * Runs a load and adds the server's CPU time per request: on a shared machine
 * throughput swings with the neighbours' load, CPU per request much less.
 * `ok` counts the expected answers only.
 */
async function measured(pid: number, job: LoadJob, expect?: number[]): Promise<Measured> {
  const before = { all: cpuMicros(pid), main: threadCpuMicros(pid), postgres: postgresCpu() };
  const result = await drive(job);
  const ok = Object.entries(result.statuses)
    .filter(([code]) => (expect ? expect.includes(Number(code)) : code.startsWith('2')))
    .reduce((n, [, count]) => n + count, 0);
  const per = (us: number) => us / Math.max(1, result.total);
  return {
    ...result,
    ok,
    cpuPerRequest: per(cpuMicros(pid) - before.all),
    mainThreadCpuPerRequest: per(threadCpuMicros(pid) - before.main),
    postgresCpuPerRequest: per(cpuSince(before.postgres, postgresCpu())),
  };
}

interface Argon2Rate {
  hashes_per_s: number;
  /** CPU time per verification, all threads of the measuring process. */
  cpu_us_per_hash: number;
  concurrency: number;
  params: string;
}

/** The machine's argon2 verifications per second, as many at once as latch's limiter allows. */
async function argon2Rate(): Promise<Argon2Rate> {
  const child = spawn(process.execPath, [ARGON2, String(Math.max(2, seconds)), String(Math.max(2, os.availableParallelism()))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`the argon2 measurement failed (exit ${code})`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as Argon2Rate;
}

const argon2Measured = (a: Argon2Rate): Measured => ({
  rps: a.hashes_per_s, ok: a.hashes_per_s, p50: 0, p99: 0, errors: 0, non2xx: 0, total: 0, exhausted: false, statuses: {}, cpuPerRequest: a.cpu_us_per_hash,
});

/** latch's event-loop delay since the last call (the --import preload), or null where it is not loaded. */
async function eventLoop(t: LatchTarget): Promise<{ p99_ms: number; max_ms: number } | null> {
  if (!t.eldFile) return null;
  if (existsSync(t.eldFile)) unlinkSync(t.eldFile);
  process.kill(t.server.child.pid!, 'SIGUSR2');
  for (let i = 0; i < 50 && !existsSync(t.eldFile); i++) await delay(50);
  try {
    return JSON.parse(readFileSync(t.eldFile, 'utf8'));
  } catch {
    return null;
  }
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function meanOf(a: Measured, b: Measured): Measured {
  const mean = (x: number, y: number) => (x + y) / 2;
  return {
    rps: mean(a.rps, b.rps),
    ok: a.ok + b.ok,
    p50: mean(a.p50, b.p50),
    p99: mean(a.p99, b.p99),
    errors: a.errors + b.errors,
    non2xx: a.non2xx + b.non2xx,
    total: a.total + b.total,
    exhausted: a.exhausted || b.exhausted,
    statuses: Object.fromEntries([...new Set([...Object.keys(a.statuses), ...Object.keys(b.statuses)])].map((k) => [k, (a.statuses[k] ?? 0) + (b.statuses[k] ?? 0)])),
    cpuPerRequest: mean(a.cpuPerRequest, b.cpuPerRequest),
  };
}

/** The node flags in package.json's start script, so the benchmark runs latch as `npm start` does. */
const admin = (statement: string) => adminStatement(serverUrl, statement);

// ---------------------------------------------------------------- reporting

/** Requests per second that got the expected answer; for the limit side of sign-in, argon2 verifications per second. */
const goodRps = (m: Measured) => (m.total > 0 ? (m.rps * m.ok) / m.total : m.rps);
const ratioOf = (a: Measured, limit: Measured) => goodRps(a) / goodRps(limit);
const cpuRatio = (a: Measured, limit: Measured) => (limit.cpuPerRequest > 0 ? a.cpuPerRequest / limit.cpuPerRequest : NaN);
const fmt = (n: number, width: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-').padStart(width);
const bad = (m: Measured) => m.total - m.ok + m.errors + (m.exhausted ? 1 : 0);

function printRow(r: Row, other?: OtherBuild): void {
  const s = r.scenario;
  const o = r.other ? ` | ${other!.sha} ${fmt(goodRps(r.other), 6)} req/s ${fmt(r.other.cpuPerRequest, 5)} µs ${fmt(ratioOf(r.other, r.limit) * 100, 3)}%` : '';
  const resp = r.responsiveness
    ? ` | loop p99 latch ${r.responsiveness.latch_event_loop?.p99_ms ?? '-'} ms ref ${r.responsiveness.reference_event_loop.p99_ms} ms; /healthz p99 ${r.responsiveness.latch_healthz.p99_ms} ms`
    : '';
  // Where a sign-in's CPU goes besides argon2 (which runs on the thread pool): the event loop and PostgreSQL.
  const split = s.group === 'signin' ? ` (main thread ${fmt(r.latch.mainThreadCpuPerRequest ?? NaN, 0)} µs, PostgreSQL ${fmt(r.latch.postgresCpuPerRequest ?? NaN, 0)} µs)` : '';
  process.stdout.write(
    `[${r.run}] ${s.name.padEnd(27)} c${String(r.connections).padEnd(3)} latch ${fmt(goodRps(r.latch), 6)} req/s p99 ${fmt(r.latch.p99, 4)} ms ${fmt(r.latch.cpuPerRequest, 5)} µs CPU/req${split}` +
      `${bad(r.latch) ? ` (${bad(r.latch)} unexpected)` : ''} | ${s.limit} ${fmt(goodRps(r.limit), 6)}/s ${fmt(r.limit.cpuPerRequest, 5)} µs | ${fmt(ratioOf(r.latch, r.limit) * 100, 3)}% CPU ×${fmt(cpuRatio(r.latch, r.limit), 1, 2)}${o}${resp}\n`,
  );
}

/** The rows of one scenario and connection count, over the runs. */
function grouped(rows: Row[]): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.scenario.name}.c${r.connections}`;
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

function printTable(rows: Row[], memory: Record<string, ReturnType<typeof rss>>, other?: OtherBuild): void {
  const head = ['scenario', 'conn', 'limit', 'latch req/s', 'p99 ms', 'unexpected', 'CPU µs/req', 'limit /s', 'limit CPU µs', 'CPU latch÷limit', `min latch÷limit (${runs} run${runs > 1 ? 's' : ''})`];
  if (other) head.push(`min ${other.sha}÷limit`);
  const lines = [...grouped(rows).values()].map((rs) => {
    const last = rs.at(-1)!;
    const line = [
      last.scenario.name,
      `c${last.connections}`,
      last.scenario.limit,
      goodRps(last.latch).toFixed(0),
      String(last.latch.p99),
      String(rs.reduce((n, r) => n + bad(r.latch), 0)),
      last.latch.cpuPerRequest.toFixed(0),
      goodRps(last.limit).toFixed(0),
      last.limit.cpuPerRequest ? last.limit.cpuPerRequest.toFixed(0) : '-',
      Number.isFinite(cpuRatio(last.latch, last.limit)) ? `${cpuRatio(last.latch, last.limit).toFixed(2)}×` : '-',
      `${(Math.min(...rs.map((r) => ratioOf(r.latch, r.limit))) * 100).toFixed(0)}%`,
    ];
    if (other) line.push(rs.some((r) => r.other) ? `${(Math.min(...rs.filter((r) => r.other).map((r) => ratioOf(r.other!, r.limit))) * 100).toFixed(0)}%` : '');
    return line;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  process.stdout.write('\n' + line(head) + '\n' + '|' + widths.map((w, i) => (i < 3 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|\n');
  for (const l of lines) process.stdout.write(line(l) + '\n');
  process.stdout.write(
    '\n' + Object.entries(memory).map(([k, m]) => `${k} RSS ${m.rss_mb} MB (peak ${m.peak_rss_mb} MB)`).join('; ') + '\n' +
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}; ${seconds} s per run, ${runs} run(s)\n`,
  );
}

const round = (n: number, digits = 3) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

function side(m: Measured) {
  return {
    rps: Math.round(goodRps(m)), p50_ms: m.p50, p99_ms: m.p99, requests: m.total, unexpected: m.total - m.ok, errors: m.errors,
    statuses: m.statuses, cpu_us_per_request: Math.round(m.cpuPerRequest), items_exhausted: m.exhausted,
    ...(m.mainThreadCpuPerRequest === undefined ? {} : { main_thread_cpu_us_per_request: Math.round(m.mainThreadCpuPerRequest) }),
    ...(m.postgresCpuPerRequest === undefined ? {} : { postgres_cpu_us_per_request: Math.round(m.postgresCpuPerRequest) }),
  };
}

function toJson(
  rows: Row[],
  extra: { memory: Record<string, ReturnType<typeof rss>>; skipped: Record<string, string>; argon2?: Argon2Rate; idleHealth?: ProbeResult; other?: OtherBuild },
) {
  const ratios: Record<string, { min?: number | null; max?: number | null; runs: (number | null)[] }> = {};
  const scenarios: Record<string, Record<string, unknown>> = {};
  const responsiveness: Record<string, unknown> = {};
  const otherName = extra.other ? `latch_${extra.other.sha}` : undefined;
  for (const [k, rs] of grouped(rows)) {
    const s = rs[0]!.scenario;
    const c = `c${rs[0]!.connections}`;
    const series = (name: string, values: number[], pick: 'min' | 'max') => {
      const clean = values.map((v) => round(v));
      const finite = clean.filter((v): v is number => v !== null);
      ratios[`${k}.${name}`] = { [pick]: finite.length ? (pick === 'min' ? Math.min(...finite) : Math.max(...finite)) : null, runs: clean };
    };
    series(`latch_over_${s.limit}`, rs.map((r) => ratioOf(r.latch, r.limit)), 'min');
    series(`cpu_latch_over_${s.limit}`, rs.map((r) => cpuRatio(r.latch, r.limit)), 'max');
    if (rs.some((r) => r.other)) {
      const ab = rs.filter((r) => r.other);
      series(`${otherName}_over_${s.limit}`, ab.map((r) => ratioOf(r.other!, r.limit)), 'min');
      series(`latch_over_${otherName}`, ab.map((r) => goodRps(r.latch) / goodRps(r.other!)), 'min');
      series(`cpu_latch_over_${otherName}`, ab.map((r) => r.latch.cpuPerRequest / r.other!.cpuPerRequest), 'max');
    }
    const entry = (scenarios[s.name] ??= { compares: s.compares, limit: s.limit }) as Record<string, unknown>;
    entry[c] = rs.map((r) => ({ run: r.run, latch: side(r.latch), limit: side(r.limit), ...(r.other ? { [otherName!]: side(r.other) } : {}) }));
    if (rs.some((r) => r.responsiveness)) {
      responsiveness[k] = rs.map((r) => r.responsiveness);
      const p99s = rs.map((r) => r.responsiveness!);
      ratios[`${k}.latch_healthz_p99_ms_under_load`] = { max: Math.max(...p99s.map((p) => p.latch_healthz.p99_ms)), runs: p99s.map((p) => p.latch_healthz.p99_ms) };
      const loop = p99s.map((p) => p.latch_event_loop?.p99_ms ?? null);
      ratios[`${k}.latch_event_loop_p99_ms`] = { max: loop.every((v) => v === null) ? null : Math.max(...loop.filter((v): v is number => v !== null)), runs: loop };
      ratios[`${k}.reference_event_loop_p99_ms`] = { max: Math.max(...p99s.map((p) => p.reference_event_loop.p99_ms)), runs: p99s.map((p) => p.reference_event_loop.p99_ms) };
    }
  }
  return {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, load_average: os.loadavg().map((l) => round(l, 2)) },
    seconds_per_run: seconds,
    runs,
    connections: connectionLevels,
    compare_ref: extra.other ? { ref: compareRef, sha: extra.other.sha } : null,
    base_ref: baseRef ?? null,
    ratios,
    skipped: extra.skipped,
    argon2: extra.argon2 ?? null,
    idle_embedded_healthz: extra.idleHealth ?? null,
    responsiveness,
    memory: extra.memory,
    scenarios,
  };
}

async function cleanup(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch {
      /* best effort on the way out */
    }
  }
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? (err as Error).message}\n`);
  stopAll();
  await cleanup();
  process.exit(1);
});
