import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { pageGet, pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

/** Access token format and resources: the same settings and rules on the app form and at the command line. */
const t = useTestContext();
let asOwner: SignedIn;
const run = (argv: string[]) => cli(argv, { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });
const row = (clientId: string) => t.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirstOrThrow();

beforeAll(async () => {
  asOwner = await signedInAs(t, (await makeUser(t)).id);
});

describe('the app form', () => {
  it('offers both settings, keeps them, and shows them on the app page', async () => {
    const blank = await pageGet(t, asOwner, '/apps/new');
    expect(blank.body).toContain('id="access_token_format"');
    expect(blank.body).toContain('id="resources"');
    const r = await pagePost(t, asOwner, '/apps', validApp({ access_token_format: 'jwt', resources: 'https://api.example.com/\r\n\r\nurn:example:files' }));
    expect(r.statusCode, r.body).toBe(201);
    const clientId = byId(r.body, 'client-id')!;
    expect(await row(clientId)).toMatchObject({ access_token_format: 'jwt', resources: ['https://api.example.com/', 'urn:example:files'] });
    const shown = await pageGet(t, asOwner, `/apps/${clientId}`);
    expect(byId(shown.body, 'access-token-format')).toContain('JWT');
    expect(byId(shown.body, 'resources')).toContain('urn:example:files');
    const edit = await pageGet(t, asOwner, `/apps/${clientId}/edit`);
    expect(edit.body).toMatch(/<option value="jwt" selected>/);
  });

  it('names the field of a bad resource or format, keeping what was typed', async () => {
    const bad = await pagePost(t, asOwner, '/apps', validApp({ resources: 'https://api.example.com/#x' }));
    expect(bad.statusCode).toBe(400);
    expect(byId(bad.body, 'error-resources')).toMatch(/fragment/);
    expect(bad.body).toContain('https://api.example.com/#x');
    const relative = await pagePost(t, asOwner, '/apps', validApp({ resources: '/api' }));
    expect(byId(relative.body, 'error-resources')).toMatch(/absolute URI/);
    const format = await pagePost(t, asOwner, '/apps', validApp({ access_token_format: 'paseto' }));
    expect(byId(format.body, 'error-access_token_format')).toBe('must be opaque or jwt');
  });
});

describe('bin/latch client create|update|show', () => {
  it('--access-token-format and --resource, shown by client show --json; --resource "" empties the list', async () => {
    const created = await run(['client', 'create', '--name', 'CLI API', '--redirect-uri', 'https://cli.example/cb', '--access-token-format', 'jwt', '--resource', 'https://a.example/', '--resource', 'https://b.example/', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.json).toMatchObject({ access_token_format: 'jwt', resources: ['https://a.example/', 'https://b.example/'] });
    const id = created.json.client_id;
    const text = await run(['client', 'show', id]);
    expect(text.stdout).toMatch(/access tokens:\s+jwt/);
    expect(text.stdout).toMatch(/resources:\s+https:\/\/a.example\/ https:\/\/b.example\//);
    const narrowed = await run(['client', 'update', id, '--resource', 'https://b.example/', '--access-token-format', 'opaque', '--json']);
    expect(narrowed.json).toMatchObject({ access_token_format: 'opaque', resources: ['https://b.example/'] });
    const cleared = await run(['client', 'update', id, '--resource', '', '--json']);
    expect(cleared.json.resources).toEqual([]);
    expect((await run(['client', 'show', id, '--json'])).json).toMatchObject({ access_token_format: 'opaque', resources: [] });
  });

  it('refuses a bad resource or format with exit code and the field named', async () => {
    const bad = await run(['client', 'create', '--name', 'Bad', '--redirect-uri', 'https://cli.example/cb', '--resource', 'relative']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('resources: relative must be an absolute URI');
    const format = await run(['client', 'create', '--name', 'Bad', '--redirect-uri', 'https://cli.example/cb', '--access-token-format', 'paseto']);
    expect(format.code).not.toBe(0);
    expect(format.stderr).toContain('access_token_format: must be opaque or jwt');
  });
});
