import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0004 from './0004_signing_keys.js';

/** Every migration, by name; names sort in the order they run. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0004_signing_keys': m0004,
};
