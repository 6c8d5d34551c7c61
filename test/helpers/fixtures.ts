import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { Clock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { createUser } from '../../src/manage/users.js';
import { registerClient, type ClientInput } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';

let counter = 0;
const unique = (base: string) => `${base}${++counter}${Math.random().toString(36).slice(2, 6)}`;

export async function makeUser(
  ctx: { db: Kysely<Database>; clock: Clock },
  overrides: { username?: string; password?: string; isAdmin?: boolean; email?: string } = {},
) {
  const password = overrides.password ?? 'correct horse battery';
  const user = await createUser(ctx.db, ctx.clock, {
    username: overrides.username ?? unique('user'),
    password,
    email: overrides.email ?? null,
    isAdmin: overrides.isAdmin ?? false,
  });
  return { ...user, password };
}

export async function makeClient(
  ctx: { db: Kysely<Database>; clock: Clock; config: Config },
  overrides: Partial<ClientInput> & { ownerId?: string | null } = {},
) {
  const { client, secret } = await registerClient(ctx, OPERATOR, {
    name: overrides.name ?? unique('App '),
    redirectUris: overrides.redirectUris ?? ['https://app.example/callback'],
    grantTypes: overrides.grantTypes ?? ['authorization_code', 'refresh_token', 'password', 'client_credentials'],
    ...overrides,
  });
  return { ...client, secret: secret as string };
}

export function basic(clientId: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part before base64.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64');
}
