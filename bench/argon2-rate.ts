/**
 * The machine's password-verification budget: argon2 verifications per second
 * of a hash made by latch's own hashPassword (so the same parameters), with as
 * many running at once as latch's hashing limiter allows in one process.
 * Runs in a process of its own; prints one JSON line, with the CPU time (all
 * threads) each verification took, to set beside latch's CPU per sign-in.
 *
 * argv[2]: seconds; argv[3]: verifications at once.
 */
import argon2 from 'argon2';
import { hashPassword } from '../src/crypto/passwords.js';

const seconds = Number(process.argv[2] ?? 3);
const concurrency = Number(process.argv[3] ?? 2);
const hash = await hashPassword('load-test-passphrase-1');
await argon2.verify(hash, 'load-test-passphrase-1');

let done = 0;
const until = performance.now() + seconds * 1000;
async function worker(): Promise<void> {
  while (performance.now() < until) {
    if (!(await argon2.verify(hash, 'load-test-passphrase-1'))) throw new Error('argon2 did not verify its own hash');
    done++;
  }
}
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, worker));
const cpu = process.cpuUsage(cpuBefore);
const elapsed = (performance.now() - started) / 1000;
const params = hash.split('$')[3];
process.stdout.write(JSON.stringify({ hashes_per_s: Number((done / elapsed).toFixed(1)), cpu_us_per_hash: Math.round((cpu.user + cpu.system) / Math.max(1, done)), concurrency, params }) + '\n');
