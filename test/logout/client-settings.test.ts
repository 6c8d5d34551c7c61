import { beforeAll, describe, expect, it } from 'vitest';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { pageGet, pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from '../console/helpers.js';
import { needsReview } from '../../src/manage/clients/settings.js';

const ISSUER = 'https://id.example.com';
const t = useTestContext({ LATCH_ISSUER: ISSUER });
const run = (argv: string[]) => cli(argv, { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });
let dev: SignedIn;

beforeAll(async () => {
  dev = await signedInAs(t, (await makeUser(t)).id);
});

describe('bin/latch client create|update: logout and ID token settings', () => {
  it('create takes --post-logout-redirect-uri (repeated), --backchannel-logout-uri and --id-token-alg; show --json has them', async () => {
    const r = await run([
      'client', 'create', '--name', 'RP', '--redirect-uri', 'https://rp.example/cb',
      '--post-logout-redirect-uri', 'https://rp.example/bye', '--post-logout-redirect-uri', 'http://127.0.0.1:3000/bye',
      '--backchannel-logout-uri', 'https://rp.example/bc', '--id-token-alg', 'EdDSA', '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const shown = await run(['client', 'show', r.json.client_id, '--json']);
    expect(shown.json).toMatchObject({
      post_logout_redirect_uris: ['https://rp.example/bye', 'http://127.0.0.1:3000/bye'],
      backchannel_logout_uri: 'https://rp.example/bc',
      id_token_alg: 'EdDSA',
    });
    const text = await run(['client', 'show', r.json.client_id]);
    expect(text.stdout).toMatch(/ID token alg: +EdDSA/);
    expect(text.stdout).toMatch(/back-channel: +https:\/\/rp\.example\/bc/);
  });

  it('update replaces the list, keeps what it is not given, and --backchannel-logout-uri "" removes it', async () => {
    const { json } = await run(['client', 'create', '--name', 'RP2', '--redirect-uri', 'https://rp.example/cb', '--post-logout-redirect-uri', 'https://rp.example/a', '--backchannel-logout-uri', 'https://rp.example/bc', '--json']);
    const u1 = await run(['client', 'update', json.client_id, '--post-logout-redirect-uri', 'https://rp.example/b', '--json']);
    expect(u1.json).toMatchObject({ post_logout_redirect_uris: ['https://rp.example/b'], backchannel_logout_uri: 'https://rp.example/bc', id_token_alg: 'RS256' });
    const u2 = await run(['client', 'update', json.client_id, '--backchannel-logout-uri', '', '--id-token-alg', 'ES256', '--json']);
    expect(u2.json).toMatchObject({ post_logout_redirect_uris: ['https://rp.example/b'], backchannel_logout_uri: null, id_token_alg: 'ES256' });
  });

  it('refuses bad values with the redirect URI rules, naming the field; nothing is saved', async () => {
    const cases: [string[], RegExp][] = [
      [['--post-logout-redirect-uri', 'http://rp.example/bye'], /post_logout_redirect_uris.*must use https/],
      [['--post-logout-redirect-uri', 'https://rp.example/bye#x'], /post_logout_redirect_uris.*fragment/],
      [['--post-logout-redirect-uri', 'urn:ietf:wg:oauth:2.0:oob'], /post_logout_redirect_uris/],
      [['--backchannel-logout-uri', 'com.example.app:/bc'], /backchannel_logout_uri.*http\(s\)/],
      [['--backchannel-logout-uri', 'not a uri'], /backchannel_logout_uri/],
      [['--id-token-alg', 'HS256'], /id_token_alg.*RS256, ES256, EdDSA/],
    ];
    for (const [flags, message] of cases) {
      const before = await t.db.selectFrom('clients').select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow();
      const r = await run(['client', 'create', '--name', 'Bad', '--redirect-uri', 'https://rp.example/cb', ...flags]);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      const after = await t.db.selectFrom('clients').select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow();
      expect(after.n).toBe(before.n);
    }
  });
});

describe('the console app form and page', () => {
  it('registers the settings from the form and shows them, with a discovery snippet', async () => {
    const r = await pagePost(t, dev, '/apps', validApp({ post_logout_redirect_uris: 'https://photosync.example/bye\n\nhttp://127.0.0.1:8080/bye', backchannel_logout_uri: 'https://photosync.example/bc', id_token_alg: 'ES256' }));
    expect(r.statusCode, r.body).toBe(201);
    const clientId = byId(r.body, 'client-id')!;
    const row = await t.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ post_logout_redirect_uris: ['https://photosync.example/bye', 'http://127.0.0.1:8080/bye'], backchannel_logout_uri: 'https://photosync.example/bc', id_token_alg: 'ES256' });
    const page = await pageGet(t, dev, `/apps/${clientId}`);
    expect(byId(page.body, 'id-token-alg')).toBe('ES256');
    expect(byId(page.body, 'backchannel-logout-uri')).toBe('https://photosync.example/bc');
    expect(byId(page.body, 'post-logout-redirect-uris')).toContain('https://photosync.example/bye');
    const snippet = byId(page.body, 'oidc-snippet')!;
    expect(snippet).toContain(`issuer:        ${ISSUER}`);
    expect(snippet).toContain(`${ISSUER}/.well-known/openid-configuration`);
    expect(snippet).toContain(`client_id:     ${clientId}`);
    const edit = await pageGet(t, dev, `/apps/${clientId}/edit`);
    expect(edit.body).toContain('<option value="ES256" selected>');
    expect(edit.body).toContain('https://photosync.example/bye\nhttp://127.0.0.1:8080/bye</textarea>');
  });

  it('a bad post-logout or back-channel URI re-renders the form with the field marked (400), keeping what was typed', async () => {
    const r = await pagePost(t, dev, '/apps', validApp({ post_logout_redirect_uris: 'javascript:alert(1)', backchannel_logout_uri: 'ftp://x.example/bc', id_token_alg: 'none' }));
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-post_logout_redirect_uris')).toMatch(/javascript/);
    expect(byId(r.body, 'error-backchannel_logout_uri')).toMatch(/http\(s\)/);
    expect(byId(r.body, 'error-id_token_alg')).toMatch(/RS256/);
    expect(r.body).toContain('javascript:alert(1)</textarea>');
  });

  it('adding a post-logout or back-channel URI needs an administrator\'s look under manual approval; removing does not', async () => {
    const base = await t.db.selectFrom('clients').selectAll().executeTakeFirstOrThrow();
    expect(needsReview(base, { ...base, post_logout_redirect_uris: [...base.post_logout_redirect_uris, 'https://new.example/bye'] })).toBe(true);
    expect(needsReview(base, { ...base, backchannel_logout_uri: 'https://new.example/bc' })).toBe(true);
    expect(needsReview(base, { ...base, post_logout_redirect_uris: [] })).toBe(false);
  });
});
