import { epochSeconds } from '../clock.js';
import { sendResetLink } from '../accounts/password-reset.js';
import type { MailLog } from '../mail/outbox.js';
import { OPERATOR } from '../manage/actor.js';
import { findUserNamed } from '../manage/users.js';
import type { CliContext } from './context.js';
import type { Command } from './commands.js';

/** Mail code's warnings, as the command's own stderr lines (they never carry a link). */
function stderrLog(ctx: CliContext): MailLog {
  const write = (a: unknown, b?: unknown) => ctx.io.stderr.write(`latch user reset-password: ${typeof a === 'string' ? a : String(b ?? '')}\n`);
  return { info: () => {}, warn: write, error: write } as unknown as MailLog;
}

/**
 * `latch user reset-password U` (issue 13): with LATCH_SMTP_URL, queues the
 * reset mail to the user's address (the server's sender delivers it);
 * without, or for a user with no address, prints a one-time link to hand over.
 */
export const userResetPassword: Command = {
  usage: 'USERNAME',
  summary:
    'Starts a password reset for a user: with e-mail (LATCH_SMTP_URL) the reset link is mailed to the user (the running server sends it); ' +
    'without e-mail, or when the user has no address, a one-time link is printed instead. The link works once, for 30 minutes; ' +
    'setting the new password signs the user out everywhere.',
  options: {},
  positionals: 1,
  async run(ctx) {
    const user = await findUserNamed(ctx, OPERATOR.actor, ctx.positionals[0]!);
    const sent = await sendResetLink({ db: ctx.db, clock: ctx.clock, config: ctx.config, log: stderrLog(ctx) }, user.id, OPERATOR);
    const expires = `until ${sent.expiresAt.toISOString()}`;
    if (sent.kind === 'mailed') {
      ctx.print(
        { username: user.username, delivery: 'mail', to: sent.to, expires_at: epochSeconds(sent.expiresAt) },
        `queued a password-reset mail to ${sent.to} for ${user.username} (the link works once, ${expires})`,
      );
      return;
    }
    const why = { no_smtp: 'e-mail is off (LATCH_SMTP_URL unset)', no_email: `${user.username} has no e-mail address`, not_queued: 'the mail could not be queued' }[sent.why];
    ctx.print(
      { username: user.username, delivery: 'link', url: sent.url, expires_at: epochSeconds(sent.expiresAt) },
      `${why}: give ${user.username} this link (it works once, ${expires}):\n${sent.url}`,
    );
  },
};
