/**
 * BENCH_COMPARE_REF: an older commit of latch, built in a temporary git
 * worktree (node_modules linked, not installed), so one run can drive both
 * builds alternately against the same limits.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export interface OtherBuild {
  /** The commit, short. */
  sha: string;
  dir: string;
  remove(): void;
}

export function buildRef(root: string, ref: string, log: (line: string) => void): OtherBuild {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  const sha = git('rev-parse', '--short', `${ref}^{commit}`);
  const dir = join(os.tmpdir(), `latch-bench-${sha}`);
  const created = !existsSync(dir);
  if (created) {
    log(`bench: building ${ref} (${sha}) in ${dir}`);
    git('worktree', 'add', '--detach', dir, sha);
    symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'));
  }
  if (!existsSync(join(dir, 'dist', 'src', 'server.js'))) {
    execFileSync(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  }
  return {
    sha,
    dir,
    remove: () => {
      // Kept with BENCH_COMPARE_KEEP=1, so the next comparison skips the build.
      if (process.env.BENCH_COMPARE_KEEP === '1') return;
      try {
        git('worktree', 'remove', '--force', dir);
      } catch {
        /* already gone */
      }
    },
  };
}
