import { digest, newSecret } from '../crypto/secrets.js';

/** Mailed and printed one-time links: 256 random bits behind a prefix secret scanners can recognise. */
const LINK_PREFIX = 'latch_ln_';
const LINK_TOKEN = /^latch_ln_[A-Za-z0-9_-]{43}$/;

export const newLinkToken = (): string => newSecret(LINK_PREFIX);

/** The digest a well-formed token is stored under, or null for anything else (no lookup for garbage). */
export const linkDigest = (token: unknown): string | null => (typeof token === 'string' && LINK_TOKEN.test(token) ? digest(token) : null);

/** Why a link does not work: each gets its own plain sentence. */
export type LinkProblem = 'invalid' | 'expired' | 'used';

export const LINK_PROBLEMS: Record<LinkProblem, string> = {
  invalid: 'This link is not valid. Check that you copied all of it, or ask for a new one.',
  expired: 'This link has expired. Ask for a new one.',
  used: 'This link has already been used. Ask for a new one if you still need it.',
};

/** What a stored link's state says about it at `now`. */
export function linkProblem(link: { used_at: Date | null; expires_at: Date } | undefined, now: Date): LinkProblem | null {
  if (!link) return 'invalid';
  if (link.used_at) return 'used';
  if (link.expires_at <= now) return 'expired';
  return null;
}
