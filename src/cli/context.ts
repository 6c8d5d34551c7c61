import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { CliIo } from './io.js';

/** What a command runs with: built by main.ts, used by every command in commands.ts. */
export interface CliContext {
  db: Kysely<Database>;
  config: Config;
  clock: Clock;
  io: CliIo;
  json: boolean;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Prints `human` lines, or `data` as one JSON object with --json. */
  print(data: object, human: string): void;
}
