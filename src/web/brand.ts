import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

/** Image types a logo file in the data directory may have, by extension. */
const LOGO_TYPES: Record<string, string> = { svg: 'image/svg+xml', png: 'image/png', webp: 'image/webp', jpg: 'image/jpeg' };
const MAX_LOGO_BYTES = 512 * 1024;

export interface LogoFile {
  path: string;
  type: string;
  body: Buffer;
}

/**
 * `logo.svg|png|webp|jpg` in the data directory, served by latch itself at
 * `/static/logo.<ext>` (same origin, so the CSP needs nothing new) when
 * LATCH_LOGO_URL is unset; read once at start. A file over 512 KiB is ignored.
 */
export function dataDirLogo(config: Pick<Config, 'dataDir' | 'logoUrl'>): LogoFile | null {
  if (config.logoUrl) return null;
  for (const [ext, type] of Object.entries(LOGO_TYPES)) {
    const file = join(config.dataDir, `logo.${ext}`);
    if (!existsSync(file)) continue;
    const body = readFileSync(file);
    if (body.length > MAX_LOGO_BYTES) return null;
    return { path: `/static/logo.${ext}`, type, body };
  }
  return null;
}
