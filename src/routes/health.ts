import type { FastifyPluginAsync } from 'fastify';
import { ping } from '../db/database.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    try {
      await ping(app.deps.db);
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', error: 'temporarily_unavailable', error_description: 'The database is unreachable' });
    }
  });
};
