import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

/** A bad command line or a refused action: one line on stderr, exit code 2 or 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A terminal's input: raw mode lets us read keys without echoing them. */
interface TtyInput extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/**
 * The secret for a --*-stdin option: at a terminal, a prompt and one line typed
 * without echo; from a pipe or file, everything up to the end.
 */
export async function readSecret(stdin: TtyInput, stderr: Writable, prompt: string): Promise<string> {
  if (stdin.isTTY !== true || typeof stdin.setRawMode !== 'function') return readStdin(stdin);
  // Echo off before the prompt shows: whatever is typed once it is visible must not echo.
  stdin.setRawMode(true);
  stderr.write(prompt);
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const finish = (err: Error | null) => {
        stdin.off('data', onData);
        stdin.pause();
        stderr.write('\n');
        if (err) reject(err);
        else resolve(typed);
      };
      const onData = (chunk: Buffer | string) => {
        for (const ch of Buffer.from(chunk).toString('utf8')) {
          if (ch === '\r' || ch === '\n') return finish(null);
          if (ch === '\u0003') return finish(new CliError('interrupted', 130));
          if (ch === '\u0004') return typed === '' ? finish(new CliError('no password given', 2)) : finish(null);
          if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
          else if (ch >= ' ') typed += ch;
        }
      };
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
  }
}

export async function readStdin(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
