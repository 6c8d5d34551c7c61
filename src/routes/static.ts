import type { FastifyPluginAsync } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_DIR } from '../paths.js';

/** One stylesheet, read once; pages need nothing else and nothing from other hosts. */
/** The accent colour's stylesheet, linked by the layout when LATCH_ACCENT_COLOR is set. */
export const BRAND_CSS = '/static/brand.css';

export const staticRoutes: FastifyPluginAsync = async (app) => {
  const css = readFileSync(join(PUBLIC_DIR, 'latch.css'), 'utf8');
  app.get('/static/latch.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  );
  // LATCH_ACCENT_COLOR as a stylesheet of its own: the CSP allows no inline style (config.ts validated the colour).
  const accent = app.deps.config.accentColor;
  if (accent) {
    const brand = `:root { --accent: ${accent}; }\n`;
    app.get(BRAND_CSS, async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(brand));
  }
};
