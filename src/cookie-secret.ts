import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';

/**
 * LATCH_COOKIE_SECRET when set; in embedded mode otherwise one generated on the
 * first start and kept beside the database, so sessions survive a restart.
 */
export function resolveCookieSecret(config: Config): string {
  return config.cookieSecret ?? dataDirSecret(config, 'cookie-secret');
}

/**
 * LATCH_KEY_SECRET when set; in embedded mode otherwise one generated the same
 * way, so the private signing keys sealed under it open after a restart.
 */
export function resolveKeySecret(config: Config): string {
  return config.keySecret ?? dataDirSecret(config, 'key-secret');
}

function dataDirSecret(config: Config, name: string): string {
  mkdirSync(config.dataDir, { recursive: true });
  const path = join(config.dataDir, name);
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  }
  return readFileSync(path, 'utf8').trim();
}
