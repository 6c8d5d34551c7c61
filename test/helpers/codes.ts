import { addSeconds, type Clock } from '../../src/clock.js';
import { digest, newSecret, PREFIX } from '../../src/crypto/secrets.js';
import { insertCode } from '../../src/store/codes.js';
import type { TestContext } from './app.js';
import { challengeOf } from './pkce.js';

/** Stores an authorization code as the authorize endpoint would, and returns it. */
export async function issueCode(
  t: Pick<TestContext, 'db' | 'config'> & { clock: Clock },
  input: { clientUuid: string; userId: string; redirectUri?: string | null; scope?: string; verifier?: string | null },
): Promise<string> {
  const code = newSecret(PREFIX.code);
  const now = t.clock.now();
  await insertCode(t.db, {
    code_digest: digest(code),
    client_id: input.clientUuid,
    user_id: input.userId,
    redirect_uri: input.redirectUri === undefined ? 'https://app.example/callback' : input.redirectUri,
    scope: input.scope ?? 'read',
    code_challenge: input.verifier ? challengeOf(input.verifier) : null,
    code_challenge_method: input.verifier ? 'S256' : null,
    expires_at: addSeconds(now, t.config.codeTtl),
    created_at: now,
  });
  return code;
}
