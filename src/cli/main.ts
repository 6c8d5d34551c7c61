import { parseArgs, type ParseArgsConfig } from 'node:util';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { openDatabaseShared, type DatabaseHandle } from '../db/database.js';
import { EmbeddedDatabaseBusyError } from '../db/embedded-lock.js';
import { migrateToLatest } from '../db/migrate.js';
import { ValidationError } from '../manage/validation.js';
import { OAuthError } from '../oauth/errors.js';
import { CliError, type CliIo } from './io.js';
import { COMMANDS, type Command } from './commands.js';

const USAGE = `latch: an OAuth 2.0 authorization server

Usage: latch <command> [options]   (every command takes --json and --help)

  migrate                          run database migrations
  user create                      create a user account
  user reset-password U            mail U a password-reset link (or print one without e-mail)
  user list|show|update            find and change users
  user disable|enable|delete       lock, unlock or remove an account
  user reset-second-factors        remove a user's TOTP (a lost phone)
  client create|list|show|update   register and inspect OAuth clients
  client approve|deny|suspend|reinstate   administrator decisions
  client rotate-secret|delete      replace the secret, or remove a client
  token create|list|revoke         personal ("test") tokens
  prune                            delete expired codes, tokens and sessions
  audit                            read the audit log (who did what, when, from where)
  keys list|rotate                 OpenID Connect signing keys
  registration-token create        initial access token for dynamic client registration

The server itself: npm start. Environment as documented in README.md.`;

/** Every command of a group (`latch user --help`), each with its usage and what it does. */
function groupHelp(group: string): string {
  return Object.entries(COMMANDS)
    .filter(([key]) => key.startsWith(group + ' '))
    .map(([key, c]) => `latch ${key} ${c.usage}\n    ${c.summary}`)
    .join('\n\n');
}

export interface CliOptions {
  clock?: Clock;
  /** Tests hand in their own database; by default the environment's is opened and closed. */
  openDb?: (config: Config) => Promise<DatabaseHandle>;
}

export async function runCli(argv: string[], io: CliIo, options: CliOptions = {}): Promise<number> {
  const clock = options.clock ?? systemClock;
  const [group, ...rest] = argv;
  if (!group || group === '--help' || group === '-h' || group === 'help') {
    io.stdout.write(USAGE + '\n');
    return group ? 0 : 2;
  }
  const key = COMMANDS[group] ? group : `${group} ${rest[0] ?? ''}`.trim();
  const command: Command | undefined = COMMANDS[key];
  const args = COMMANDS[group] ? rest : rest.slice(1);
  if (!command) {
    const subs = Object.keys(COMMANDS).filter((k) => k.startsWith(group + ' ')).map((k) => k.split(' ')[1]);
    if (subs.length > 0 && (rest[0] === '--help' || rest[0] === '-h')) {
      io.stdout.write(groupHelp(group) + '\n');
      return 0;
    }
    io.stderr.write(
      subs.length > 0
        ? `latch: ${group} needs one of: ${subs.join(', ')} (see latch ${group} <command> --help)\n`
        : `latch: unknown command "${argv.join(' ')}" (see latch --help)\n`,
    );
    return 2;
  }
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as ParseArgsConfig['options'],
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    io.stderr.write(`latch ${key}: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(`Usage: latch ${key} ${command.usage}\n\n${command.summary}\n`);
    return 0;
  }
  const expected = command.positionals ?? 0;
  if (parsed.positionals.length !== expected) {
    io.stderr.write(`latch ${key}: expected ${expected === 0 ? 'no arguments' : command.usage.split(' ')[0]} (usage: latch ${key} ${command.usage})\n`);
    return 2;
  }

  let config: Config;
  try {
    config = loadConfig(io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`latch: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let handle: DatabaseHandle | undefined;
  try {
    handle = await (options.openDb ?? openDatabaseShared)(config);
    io.stderr.write(`latch: database: ${handle.description}\n`);
    if (command.autoMigrate !== false) await migrateToLatest(handle.db);
    const json = parsed.values.json === true;
    await command.run({
      db: handle.db,
      config,
      clock,
      io,
      json,
      values: parsed.values,
      positionals: parsed.positionals,
      print(data, human) {
        io.stdout.write(json ? JSON.stringify(data) + '\n' : human.replace(/\n?$/, '\n'));
      },
    });
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`latch ${key}: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ValidationError) {
      io.stderr.write(`latch ${key}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof OAuthError) {
      // The management layer's refusals (no such client, a public client's secret): the description is the sentence.
      io.stderr.write(`latch ${key}: ${err.description}\n`);
      return 1;
    }
    if (err instanceof EmbeddedDatabaseBusyError) {
      io.stderr.write(`latch: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`latch ${key}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await handle?.close();
  }
}
