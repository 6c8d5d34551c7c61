import type { FastifyPluginAsync } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_DIR } from '../paths.js';

/** One stylesheet, read once; pages need nothing else and nothing from other hosts. */
export const staticRoutes: FastifyPluginAsync = async (app) => {
  const css = readFileSync(join(PUBLIC_DIR, 'latch.css'), 'utf8');
  app.get('/static/latch.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  );
};
