import type { FastifyPluginAsync } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PUBLIC_DIR } from '../paths.js';
import type { LogoFile } from '../web/brand.js';

/** @simplewebauthn/browser's UMD bundle (window.SimpleWebAuthnBrowser), from the installed package. */
function webauthnBundle(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
}

/** The accent colour's stylesheet, linked by the layout when LATCH_ACCENT_COLOR is set. */
export const BRAND_CSS = '/static/brand.css';

/**
 * The stylesheet and latch's own script (passkeys: the library's browser
 * bundle and the few lines that call it), read once; pages need nothing else
 * and nothing from other hosts.
 */
export const staticRoutes: FastifyPluginAsync<{ logo: LogoFile | null }> = async (app, { logo }) => {
  const files: Array<[string, string, string | Buffer]> = [
    ['/static/latch.css', 'text/css; charset=utf-8', readFileSync(join(PUBLIC_DIR, 'latch.css'), 'utf8')],
    ['/static/webauthn.js', 'text/javascript; charset=utf-8', webauthnBundle()],
    ['/static/passkeys.js', 'text/javascript; charset=utf-8', readFileSync(join(PUBLIC_DIR, 'passkeys.js'), 'utf8')],
  ];
  // LATCH_ACCENT_COLOR as a stylesheet of its own: the CSP allows no inline style (config.ts validated the colour).
  const accent = app.deps.config.accentColor;
  if (accent) files.push([BRAND_CSS, 'text/css; charset=utf-8', `:root { --accent: ${accent}; }\n`]);
  if (logo) files.push([logo.path, logo.type, logo.body]);
  for (const [path, type, body] of files) {
    app.get(path, async (_req, reply) => reply.type(type).header('cache-control', 'public, max-age=3600').send(body));
  }
};
