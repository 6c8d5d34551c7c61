import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../oauth/errors.js';
import { REGISTRATION_PATH } from '../oauth/registration/metadata.js';
import { deleteRegistration, readRegistration, registerClient, replaceRegistration, type Requester } from '../oauth/registration/index.js';
import { auditContext } from '../web/audit-context.js';
import { sendError, toOAuthError } from '../web/error-handler.js';

/** RFC 7591 §3.2.1: client information must not be cached (it carries secrets). */
const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

const requester = (request: FastifyRequest): Requester => ({ ip: request.ip, audit: auditContext(request), authorization: request.headers.authorization });

/** RFC 7591 wants JSON: a form body, which latch parses elsewhere, is refused here. */
function jsonBody(request: FastifyRequest): unknown {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new OAuthError('invalid_client_metadata', 'Send the client metadata as a JSON object with Content-Type: application/json', { status: type ? 415 : 400 });
  }
  return request.body;
}

/** Dynamic client registration (RFC 7591) and its management (RFC 7592). */
export const registrationRoutes: FastifyPluginAsync = async (app) => {
  const deps = app.deps;

  // A body that is not JSON (or repeats a member) is bad client metadata in RFC 7591's words (§3.2.2), not the RFC 6749 invalid_request.
  app.setErrorHandler(async (err, request, reply) => {
    const e = toOAuthError(err);
    const malformedBody = e.code === 'invalid_request' && e.status < 500 && !e.headers['www-authenticate'];
    return sendError(request, reply, malformedBody ? new OAuthError('invalid_client_metadata', e.description, { status: e.status }) : e);
  });

  app.post(REGISTRATION_PATH, async (request, reply) => {
    const info = await registerClient(deps, requester(request), jsonBody(request));
    return noStore(reply).code(201).send(info);
  });

  app.get<{ Params: { clientId: string } }>(`${REGISTRATION_PATH}/:clientId`, async (request, reply) => {
    return noStore(reply).send(await readRegistration(deps, request.params.clientId, request.headers.authorization));
  });

  app.put<{ Params: { clientId: string } }>(`${REGISTRATION_PATH}/:clientId`, async (request, reply) => {
    return noStore(reply).send(await replaceRegistration(deps, requester(request), request.params.clientId, jsonBody(request)));
  });

  app.delete<{ Params: { clientId: string } }>(`${REGISTRATION_PATH}/:clientId`, async (request, reply) => {
    await deleteRegistration(deps, requester(request), request.params.clientId);
    return noStore(reply).code(204).send();
  });
};
