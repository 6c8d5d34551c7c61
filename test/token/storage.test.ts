import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { useTestContext } from '../helpers/app.js';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { asAuth, clientPost } from '../helpers/forms.js';

const t = useTestContext();
let user: Awaited<ReturnType<typeof makeUser>>;
let app: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  user = await makeUser(t);
  app = await makeClient(t, { grantTypes: ['password', 'refresh_token', 'client_credentials'] });
});

const login = async (scope = 'read') =>
  (await clientPost(t.app, '/oauth/token', { grant_type: 'password', username: user.username, password: user.password, scope }, asAuth(app))).json();

describe('storage', () => {
  it('keeps no raw token, code or secret in any table', async () => {
    const tokens = await login('read write');
    const cc = (await clientPost(t.app, '/oauth/token', { grant_type: 'client_credentials' }, asAuth(app))).json();
    const dump = JSON.stringify(
      await Promise.all(
        ['access_tokens', 'refresh_tokens', 'clients', 'grants', 'authorization_codes'].map((table) => sql`select * from ${sql.table(table)}`.execute(t.db)),
      ),
    );
    for (const secret of [tokens.access_token, tokens.refresh_token, cc.access_token, app.secret]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(9));
    }
    expect(dump).not.toContain(user.password);
  });
});
