import { beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, useTestContext, testConfig } from '../helpers/app.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClient, makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { pageGet } from '../helpers/forms.js';
import { byId, decodeEntities } from '../helpers/html.js';
import { ConfigError } from '../../src/config.js';
import { noticeMail } from '../../src/mail/templates.js';

const t = useTestContext({ LATCH_SITE_NAME: 'Acme <Sign-in>', LATCH_LOGO_URL: 'https://cdn.acme.example/logo.png', LATCH_ACCENT_COLOR: '#C0FFEE' });
let asAdmin: SignedIn;
let asUser: SignedIn;

beforeAll(async () => {
  asAdmin = await signedInAs(t, (await makeUser(t, { isAdmin: true })).id);
  asUser = await signedInAs(t, (await makeUser(t)).id);
});

describe('branding', () => {
  it('puts LATCH_SITE_NAME in the title and header of every page, escaped, and never "latch"', async () => {
    for (const [who, path] of [[null, '/'], [null, '/login'], [asUser, '/account/apps'], [asAdmin, '/admin/users'], [asAdmin, '/admin/audit'], [null, '/oauth/authorize']] as const) {
      const r = await pageGet(t, who, path);
      expect(r.headers['content-type'], path).toContain('text/html');
      expect(r.body, path).toMatch(/<title>[^<]*Acme &lt;Sign-in&gt;<\/title>/);
      expect(decodeEntities(byId(r.body, 'site-name') ?? ''), path).toContain('Acme <Sign-in>');
      expect(r.body, path).not.toContain('· latch');
    }
  });

  it('shows the logo and the accent colour within the CSP: no inline style, the logo origin allowed for images only', async () => {
    const r = await pageGet(t, null, '/');
    expect(r.body).toContain('<img class="logo" src="https://cdn.acme.example/logo.png"');
    expect(r.body).toContain('<link rel="stylesheet" href="/static/brand.css">');
    expect(r.body).not.toMatch(/style=|<style/);
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("img-src 'self' data: https://cdn.acme.example");
    expect(csp).toContain("style-src 'self'");
    const css = await t.app.inject({ method: 'GET', url: '/static/brand.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    expect(css.body).toBe(':root { --accent: #c0ffee; }\n');
  });

  it("the login page names the app a sign-in started at /oauth/authorize is for; the admin's home links to approval, users and audit", async () => {
    const app = await makeClient(t, { name: 'Photo <Sync>' });
    const returnTo = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: app.client_id, redirect_uri: 'https://app.example/callback' })}`;
    const login = await pageGet(t, null, `/login?return_to=${encodeURIComponent(returnTo)}`);
    expect(decodeEntities(byId(login.body, 'signin-app') ?? '')).toBe('Photo <Sync>');
    expect(login.body).not.toContain('Photo <Sync>');
    const unknown = await pageGet(t, null, `/login?return_to=${encodeURIComponent('/oauth/authorize?client_id=Evil%20Corp')}`);
    expect(byId(unknown.body, 'signin-app')).toBeUndefined();
    expect((await pageGet(t, null, '/login')).body).not.toContain('id="signin-app"');

    const home = await pageGet(t, asAdmin, '/');
    const links = /<ul id="admin-links">[\s\S]*?<\/ul>/.exec(home.body)?.[0] ?? '';
    for (const href of ['/admin/apps', '/admin/users', '/admin/audit']) expect(links).toContain(`href="${href}"`);
    expect((await pageGet(t, asUser, '/')).body).not.toContain('id="admin-links"');
  });

  it('names the site in e-mails', () => {
    const mail = noticeMail(t.config, 'a@example.org', 'Your password was changed', 'It was changed.');
    expect(mail.subject).toBe('Your password was changed (Acme <Sign-in>)');
    expect(mail.text).toContain('— Acme <Sign-in>');
    expect(mail.html).toContain('Acme &lt;Sign-in&gt;');
  });

  it('stops the start with one clear line for a bad logo URL or colour', () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ LATCH_LOGO_URL: 'javascript:alert(1)' }, 'LATCH_LOGO_URL: expected an absolute http(s) URL of an image (got "javascript:alert(1)")'],
      [{ LATCH_LOGO_URL: 'https://x.example/a"b.png' }, 'LATCH_LOGO_URL: expected an http(s) URL without quotes'],
      [{ LATCH_ACCENT_COLOR: 'red' }, 'LATCH_ACCENT_COLOR: expected a colour as #rgb or #rrggbb (got "red")'],
      [{ LATCH_ACCENT_COLOR: '#12345' }, 'LATCH_ACCENT_COLOR: expected a colour as #rgb or #rrggbb'],
    ];
    for (const [env, message] of bad) {
      expect(() => testConfig(env)).toThrow(ConfigError);
      expect(() => testConfig(env)).toThrow(message);
    }
    expect(testConfig({ LATCH_ACCENT_COLOR: '#abc' }).accentColor).toBe('#abc');
  });
});

describe('without branding settings', () => {
  const plain = useTestContext();
  it('links no brand stylesheet and serves none; the name is latch', async () => {
    const r = await pageGet(plain, null, '/login');
    expect(r.body).toContain('<title>Sign in · latch</title>');
    expect(r.body).not.toContain('brand.css');
    expect((await plain.app.inject({ method: 'GET', url: '/static/brand.css' })).statusCode).toBe(404);
    expect(String(r.headers['content-security-policy'])).toContain("img-src 'self' data:;");
  });
});

describe('a logo file in the data directory', () => {
  it('is served by latch at /static/logo.svg and shown on every page when LATCH_LOGO_URL is unset; the CSP needs nothing new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latch-logo-'));
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    writeFileSync(join(dir, 'logo.svg'), svg);
    const ctx = await createTestContext({ LATCH_DATA_DIR: dir });
    try {
      const page = await ctx.app.inject({ method: 'GET', url: '/login' });
      expect(page.body).toContain('<img class="logo" src="/static/logo.svg"');
      expect(String(page.headers['content-security-policy'])).toContain("img-src 'self' data:;");
      const logo = await ctx.app.inject({ method: 'GET', url: '/static/logo.svg' });
      expect(logo.statusCode).toBe(200);
      expect(logo.headers['content-type']).toContain('image/svg+xml');
      expect(logo.body).toBe(svg);
    } finally {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // Without the file there is no logo and no route.
    const plain = await createTestContext({ LATCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'latch-nologo-')) });
    try {
      expect((await plain.app.inject({ method: 'GET', url: '/login' })).body).not.toContain('class="logo"');
      expect((await plain.app.inject({ method: 'GET', url: '/static/logo.svg' })).statusCode).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
