/** Processes the benchmark starts, and what it reads about them from outside (/proc, a health probe). */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { LoadJob, LoadResult } from './load.js';

const LOAD = join(dirname(fileURLToPath(import.meta.url)), 'load.js');

export interface Server {
  child: ChildProcess;
  url: string;
  output(): string;
}

const children: ChildProcess[] = [];

/** Starts `node args…`; `ready` is asked every 100 ms with what it printed so far. */
export async function start(
  args: string[],
  env: Record<string, string>,
  ready: (output: string) => Promise<string | null>,
  options: { cwd?: string } = {},
): Promise<Server> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd });
  children.push(child);
  let output = '';
  const keep = (d: Buffer) => {
    output += d;
    // Keep the server's own log from growing without bound in this process.
    if (output.length > 1_000_000) output = output.slice(-10_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`a server exited at start:\n${output}`);
    const url = await ready(output);
    if (url) return { child, url, output: () => output };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`a server did not start within 60 s:\n${output}`);
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

/** Every server still running, on the way out after a failure. */
export function stopAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}

/**
 * CPU time (user + system) a process and its children have used, in microseconds
 * (Linux /proc, 100 Hz ticks): a LATCH_WORKERS primary's workers count with it.
 */
export function cpuMicros(pid: number): number {
  let total = statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.split(') ')[1]!.split(' ')[1]) === pid) total += statTicks(stat);
    } catch {
      // gone meanwhile
    }
  }
  return total * 10_000;
}

/** CPU time of one thread of `pid` (its main thread when `tid` is the pid itself), in microseconds. */
export function threadCpuMicros(pid: number, tid: number = pid): number {
  return statTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')) * 10_000;
}

/**
 * CPU time of every PostgreSQL process on the machine, by process id, in
 * microseconds. Compare two readings with `cpuSince`: a backend that exited in
 * between takes its time with it, one that started counts whole.
 */
export function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes(' (postgres) ')) out.set(Number(entry), statTicks(stat) * 10_000);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const cpuSince = (before: Map<number, number>, after: Map<number, number>): number =>
  [...after].reduce((sum, [pid, us]) => sum + us - Math.min(us, before.get(pid) ?? 0), 0);

function statTicks(stat: string): number {
  const fields = stat.split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The Node flags `npm start` runs latch with (package.json), so that latch is measured as it is deployed. */
export function startFlags(root: string): string {
  const startScript: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start;
  return startScript.match(/^node((?: --[^ ]+)*) /)?.[1]?.trim() ?? '';
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
export function rss(pid: number): { rss_mb: number; peak_rss_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))?.[1] ?? 0);
  return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_rss_mb: Math.round(kb('VmHWM') / 1024) };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  return (await r.json()) as Record<string, unknown>;
}

export interface ProbeResult {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/**
 * Sends `request` (default a GET) to `url` one at a time every `everyMs` until `stop` resolves, on a
 * connection of its own, and reports the latencies: what a health check or a
 * person would see while the server is under load.
 */
export async function probe(url: string, stopped: Promise<unknown>, everyMs = 20, request: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<ProbeResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let done = false;
  void stopped.finally(() => (done = true));
  while (!done) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const req = http.request(url, { agent, method: request.method ?? 'GET', headers: request.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(request.body);
    });
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  agent.destroy();
  times.sort((a, b) => a - b);
  const at = (q: number) => Number((times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(2));
  return { samples: times.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
}

/** Runs one load in its own process (bench/load.ts) and returns what it measured. */
export async function drive(job: LoadJob): Promise<LoadResult> {
  const dir = mkdtempSync(join(os.tmpdir(), 'latch-bench-'));
  try {
    const file = join(dir, 'job.json');
    writeFileSync(file, JSON.stringify(job));
    const child = spawn(process.execPath, [LOAD, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the load generator failed (exit ${code})`);
    return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One statement on the PostgreSQL server itself (create or drop the benchmark's database). */
export async function admin(serverUrl: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}
