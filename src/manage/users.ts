import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, User } from '../db/schema.js';
import type { Clock } from '../clock.js';
import { hashPassword } from '../crypto/passwords.js';
import { findUserByUsername, insertUser } from '../store/users.js';
import { OAuthError } from '../oauth/errors.js';
import { requireAdministrator, type Actor, type ManageDeps } from './actor.js';
import { OPERATOR, type AuditContext } from '../audit/events.js';
import { recordAudit } from '../audit/record.js';
import { inTransaction } from '../store/transaction.js';
import { ValidationError } from './validation.js';

export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 10;

/** Why a password is too weak, or null. Length beats composition rules (NIST SP 800-63B). */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > 256) return 'must be at most 256 characters';
  if (new Set(password).size < 4) return 'must not repeat so few characters';
  if (username && password.toLowerCase().includes(username.toLowerCase())) return 'must not contain the username';
  return null;
}

export interface NewUserInput {
  username: string;
  password: string;
  email?: string | null;
  isAdmin?: boolean;
}

export async function createUser(db: Kysely<Database>, clock: Clock, input: NewUserInput, audit: AuditContext = OPERATOR): Promise<User> {
  const problems: Record<string, string> = {};
  if (!USERNAME.test(input.username)) {
    problems.username = 'must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit';
  }
  if (input.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(input.email)) problems.email = 'is not an email address';
  // One rule for every way in: sign-up, the command line, the console.
  if (input.password.length === 0) problems.password = 'must not be empty';
  else {
    const p = passwordProblem(input.password, input.username);
    if (p) problems.password = p;
  }
  if (Object.keys(problems).length > 0) throw new ValidationError(problems);
  const passwordHash = await hashPassword(input.password);
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    const user = await insertUser(trx, {
      id: randomUUID(),
      username: input.username,
      email: input.email ?? null,
      passwordHash,
      isAdmin: input.isAdmin ?? false,
      createdAt: now,
    });
    if (!user) throw new ValidationError({ username: 'is already taken' });
    await recordAudit(trx, { ...audit, at: now, action: 'user.create', user, details: { admin: user.is_admin } });
    return user;
  });
}

/** The user named `username`, for an administrator naming an app's owner or a token's user. */
export async function findUserNamed({ db }: Pick<ManageDeps, 'db'>, actor: Actor, username: string): Promise<User> {
  requireAdministrator(actor);
  const user = await findUserByUsername(db, username);
  if (!user) throw new OAuthError('not_found', `no user named "${username}"`, { status: 404 });
  return user;
}
