import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../oauth/errors.js';

/** Every string literal in JSON text, and whether a ':' follows it (then it is a member name). */
const STRING_TOKEN = /"(?:[^"\\]|\\.)*"(\s*:)?/g;

/** Member names written in `text`: valid JSON is scanned string by string, so a ':' inside a string never counts. */
function namesWritten(text: string): number {
  let n = 0;
  for (const m of text.matchAll(STRING_TOKEN)) if (m[1] !== undefined) n++;
  return n;
}

/** Member names the parsed value kept; iterative, so deep nesting cannot overflow the stack. */
function namesKept(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else {
      const values = Object.values(v);
      n += values.length;
      for (const item of values) stack.push(item);
    }
  }
  return n;
}

/**
 * JSON.parse keeps the last of repeated member names silently, while a repeated
 * form parameter is refused (RFC 6749 §3.1). A body that names more members
 * than its parsed value holds repeated one (at any level, "a" and "\u0061"
 * alike): one linear scan over the text, no second parse.
 */
export function hasDuplicateKeys(text: string, parsed: unknown): boolean {
  return namesWritten(text) !== namesKept(parsed);
}

/** Fastify's own JSON parser (prototype poisoning refused), plus the duplicate check. */
export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error') as (req: unknown, body: string, done: (err: Error | null, value?: unknown) => void) => void;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    parse(request, text, (err, value) => {
      if (err) return done(err, undefined);
      if (hasDuplicateKeys(text, value)) {
        return done(new OAuthError('invalid_request', 'The JSON body repeats a member name'), undefined);
      }
      done(null, value);
    });
  });
}
