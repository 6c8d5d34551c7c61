import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../oauth/errors.js';

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300']);

/** True for failures that mean "the database is away", which deserve 503 and a retry, not 500. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  const m = e.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED|database ping timed out|Client has encountered a connection error/i.test(m);
}

/** Any error, as the OAuthError the client will see. */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (isDatabaseUnavailable(err)) {
    return new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable; try again shortly', {
      headers: { 'retry-after': '2' },
    });
  }
  const fe = err as FastifyError;
  const status = fe?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const description =
      status === 413
        ? 'The request body is too large'
        : status === 415
          ? 'Unsupported content type; send application/x-www-form-urlencoded or application/json'
          : fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe instanceof SyntaxError
            ? 'The request body is not valid JSON'
            : 'The request is malformed';
    return new OAuthError('invalid_request', description, { status });
  }
  return new OAuthError('server_error', 'The server could not complete the request');
}

export async function errorHandler(this: unknown, err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const oauth = toOAuthError(err);
  if (oauth.status >= 500) {
    request.log.error({ err: { type: (err as Error)?.name, message: (err as Error)?.message, code: (err as { code?: string })?.code } }, 'request failed');
  }
  return sendError(request, reply, oauth);
}

/**
 * True when the client would rather have HTML than JSON (a browser's Accept
 * lists text/html above application/json; `*\/*` alone, as curl sends, is JSON).
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  let any = 0;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) || 0 : 1;
    if (type === 'text/html') html = Math.max(html, q);
    else if (type === 'application/json') json = Math.max(json, q);
    else if (type === '*/*') any = Math.max(any, q);
  }
  return html > 0 && html > (json || any);
}

const HOME_LINK = { href: '/', label: 'Back to the home page' };

/** Sends an OAuthError as JSON (API) or as the error page (routes marked `page`, and browsers on unknown URLs). */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: OAuthError, asPage = request.routeOptions.config?.page === true) {
  reply.code(error.status).headers(error.headers).header('cache-control', 'no-store');
  if (asPage) {
    return reply.type('text/html; charset=utf-8').view('error', {
      title: error.page.title ?? (error.status === 404 ? 'Page not found' : 'Something went wrong'),
      code: error.code,
      description: error.description,
      shown: error.page.shown,
      back: error.page.back ?? HOME_LINK,
    });
  }
  return reply.type('application/json; charset=utf-8').send(error.toJSON());
}

export async function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?')[0]!;
  if (prefersHtml(request.headers.accept)) {
    return sendError(request, reply, new OAuthError('not_found', 'There is no page at this address.'), true);
  }
  return sendError(request, reply, new OAuthError('not_found', `No route for ${request.method} ${path}`));
}
