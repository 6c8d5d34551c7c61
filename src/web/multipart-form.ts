import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Busboy, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import { OAuthError } from '../oauth/errors.js';
import { BODY_LIMIT } from './body-limit.js';

const TOO_LARGE = () => new OAuthError('invalid_request', 'The request body is too large', { status: 413 });
const MALFORMED = () => new OAuthError('invalid_request', 'The multipart body is malformed');
const FILE_PART = () => new OAuthError('invalid_request', 'File parts are not accepted; send the parameters as plain form fields');

/**
 * Busboy's limits: no part may exceed the body limit, few parts, one file at
 * most (only so that a file part is seen and refused by name). Fastify's
 * bodyLimit does not apply to a parser that reads the stream itself, so the
 * total is counted below.
 */
const LIMITS = { fieldNameSize: 200, fieldSize: BODY_LIMIT, fields: 100, files: 1, fileSize: 1, parts: 101, headerPairs: 20 };

/** The fields of a multipart body as form parameters: repeated names become arrays, which readParams refuses. */
function readFields(headers: IncomingHttpHeaders, payload: Readable): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    if (Number(headers['content-length'] ?? 0) > BODY_LIMIT) return reject(TOO_LARGE());
    let parser: BusboyInstance;
    try {
      parser = new Busboy({ headers: headers as BusboyHeaders, limits: LIMITS });
    } catch {
      // No boundary, or a content type busboy cannot read.
      return reject(MALFORMED());
    }
    const body: Record<string, unknown> = Object.create(null);
    let size = 0;
    let failed = false;
    const fail = (err: OAuthError) => {
      if (failed) return;
      failed = true;
      payload.unpipe(parser);
      // The rest of the body is read and dropped, so the connection stays usable.
      payload.resume();
      reject(err);
    };
    parser.on('field', (name: string, value: string, nameTruncated: boolean, valueTruncated: boolean) => {
      if (nameTruncated || valueTruncated) return fail(TOO_LARGE());
      size += name.length + value.length;
      if (size > BODY_LIMIT) return fail(TOO_LARGE());
      const previous = body[name];
      body[name] = previous === undefined ? value : [previous, value].flat();
    });
    parser.on('file', (_name: string, file: Readable) => {
      file.resume();
      fail(FILE_PART());
    });
    for (const limit of ['partsLimit', 'fieldsLimit', 'filesLimit'] as const) parser.on(limit, () => fail(TOO_LARGE()));
    // Busboy's own complaints (truncated data, a bad part header) are the client's malformed body.
    parser.on('error', () => fail(MALFORMED()));
    payload.on('error', () => fail(MALFORMED()));
    parser.on('finish', () => {
      if (!failed) resolve({ ...body });
    });
    payload.pipe(parser);
  });
}

/**
 * `multipart/form-data` bodies (`curl -F`, as many APIs' documentation
 * shows) read as form parameters, for the routes of the plugin `app` that
 * calls this: the token, revocation and introspection endpoints. A body
 * parser, like the form parser, so the requests that do not use it pay
 * nothing (a plugin with per-request hooks cost every token request).
 */
export function acceptMultipartForms(app: FastifyInstance): void {
  app.addContentTypeParser('multipart/form-data', (request, payload, done) => {
    readFields(request.headers, payload).then(
      (body) => done(null, body),
      (err: Error) => done(err, undefined),
    );
  });
}
