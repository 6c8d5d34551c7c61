import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Another live process holds the embedded database. */
export class EmbeddedDatabaseBusyError extends Error {}

/**
 * PGlite is one process's database: two processes opening one data directory
 * would corrupt it. A lock file with the holder's PID keeps a second one out,
 * and a lock whose process is gone is taken over.
 */
export function acquireEmbeddedLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'latch.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new EmbeddedDatabaseBusyError(
          `the embedded database in ${dataDir} is in use by another latch process (pid ${holder}); ` +
            'stop it first, or run both on PostgreSQL by setting DATABASE_URL',
        );
      }
      try {
        unlinkSync(path);
      } catch {
        // another process took it over first; try again
      }
    }
  }
  throw new EmbeddedDatabaseBusyError(`could not lock the embedded database in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
