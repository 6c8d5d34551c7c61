import type { FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { OAuthError } from '../oauth/errors.js';
import { BODY_LIMIT } from './body-limit.js';
import { rejectNul } from './reject-nul.js';

const TOO_LARGE = () => new OAuthError('invalid_request', 'The request body is too large', { status: 413 });

/**
 * Busboy's limits: no part may exceed the body limit, few parts, one file at
 * most (only so that a file part is seen and refused by name). Fastify's
 * bodyLimit does not apply to multipart, so the total is counted below.
 */
const LIMITS = { fieldNameSize: 200, fieldSize: BODY_LIMIT, fields: 100, files: 1, fileSize: 1, parts: 101, headerPairs: 20 };

/** The fields of a multipart body as form parameters: repeated names become arrays, which readParams refuses. */
async function readFields(request: FastifyRequest): Promise<Record<string, unknown>> {
  if (Number(request.headers['content-length'] ?? 0) > BODY_LIMIT) throw TOO_LARGE();
  const body: Record<string, unknown> = Object.create(null);
  let size = 0;
  for await (const part of request.parts({ limits: LIMITS })) {
    if (part.type === 'file') {
      part.file.resume();
      throw new OAuthError('invalid_request', 'File parts are not accepted; send the parameters as plain form fields');
    }
    if (part.fieldnameTruncated || part.valueTruncated) throw TOO_LARGE();
    const value = part.value;
    size += part.fieldname.length + (typeof value === 'string' ? value.length : JSON.stringify(value).length);
    if (size > BODY_LIMIT) throw TOO_LARGE();
    const previous = body[part.fieldname];
    body[part.fieldname] = previous === undefined ? value : [previous, value].flat();
  }
  return { ...body };
}

/**
 * `multipart/form-data` bodies (`curl -F`, as many APIs' documentation
 * shows) read as form parameters, for the routes of the plugin `app` that
 * calls this: the token, revocation and introspection endpoints.
 */
export async function acceptMultipartForms(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: LIMITS });
  app.addHook('preValidation', async (request, reply) => {
    if (!request.isMultipart()) return;
    try {
      request.body = await readFields(request);
    } catch (err) {
      if (err instanceof OAuthError || typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err;
      // Busboy's own complaints (no boundary, truncated data) are the client's malformed body.
      throw new OAuthError('invalid_request', 'The multipart body is malformed');
    }
    // The root hook ran before the fields existed.
    await new Promise<void>((resolve, reject) => rejectNul(request, reply, (err) => (err ? reject(err) : resolve())));
  });
}
