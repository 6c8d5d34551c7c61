import { PassThrough, Readable } from 'node:stream';
import { runCli, type CliOptions } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs bin/latch's code in-process against the given database. */
export async function cli(argv: string[], options: CliOptions & { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += d));
  err.on('data', (d) => (stderr += d));
  const code = await runCli(
    argv,
    { stdout: out, stderr: err, stdin: Readable.from([options.stdin ?? '']), env: options.env ?? { LOG_LEVEL: 'silent' } },
    options,
  );
  let json: any;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}
