import { createHash } from 'node:crypto';

/**
 * Statements run as named prepared statements, on PostgreSQL (./database.ts)
 * and in embedded PGlite (./pglite-prepared.ts): parsed and planned once per
 * connection instead of on every call. For the token lookup (a join of
 * three tables) planning cost more than executing: named, PostgreSQL answered
 * it about 2.5 times as often. Only fixed statement texts belong here (the
 * store's compiled statements), so the set stays small.
 */
const names = new Map<string, string>();

export function markPrepared(text: string): void {
  if (!names.has(text)) names.set(text, `latch_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
}

export function preparedName(text: string): string | undefined {
  return names.get(text);
}
