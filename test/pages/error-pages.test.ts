import { describe, expect, it } from 'vitest';
import { prefersHtml } from '../../src/web/error-handler.js';
import { useTestContext } from '../helpers/app.js';
import { makeClient } from '../helpers/fixtures.js';
import { authorizeUrl } from './helpers.js';

/** What Chromium and Firefox send for a page. */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const backLink = (html: string) => /<a class="button" id="error-back" href="([^"]*)">([^<]*)<\/a>/.exec(html);

describe('error pages', () => {
  const t = useTestContext();

  it('a browser asking for an unknown URL gets a styled HTML 404 with a way home', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/no/such/page?x=1', headers: { accept: BROWSER } });
    expect(r.statusCode).toBe(404);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.body).toContain('<p id="error-code" class="error-code">not_found</p>');
    expect(r.body).toContain('<h1>Page not found</h1>');
    expect(r.body).toContain('href="/static/latch.css"');
    expect(backLink(r.body)?.[1]).toBe('/');
  });

  it('API clients still get JSON for unknown URLs', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html;q=0.5']) {
      const r = await t.app.inject({ method: 'GET', url: '/no/such/api', headers: accept ? { accept } : {} });
      expect(r.statusCode, accept).toBe(404);
      expect(r.headers['content-type'], accept).toMatch(/^application\/json/);
      expect(r.json().error).toBe('not_found');
    }
  });

  it('prefersHtml reads q-values', () => {
    expect(prefersHtml(BROWSER)).toBe(true);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml('text/html;q=0.4, application/json')).toBe(false);
    expect(prefersHtml('text/html;q=0')).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
  });

  it('a closed /signup says that sign-up is closed', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/signup', headers: { accept: BROWSER } });
    expect(r.statusCode).toBe(404);
    expect(r.body).toContain('<h1>Sign-up is closed</h1>');
    expect(r.body).toMatch(/<p class="error-description" id="error-description">Sign-up is closed on this server: ask an administrator/);
    expect(r.body).toContain('<p id="error-code" class="error-code">not_found</p>');
    expect(backLink(r.body)?.[1]).toBe('/');
  });

  it('the authorize page for a redirect_uri that did not match shows it, escaped, and leads back to the app', async () => {
    const c = await makeClient(t, { name: 'Photo <Sync>', website: 'https://photos.example/' });
    const sent = 'https://evil.example/cb?x="><script>alert(1)</script>';
    const r = await t.app.inject({ method: 'GET', url: authorizeUrl({ response_type: 'code', client_id: c.client_id, redirect_uri: sent }), headers: { accept: BROWSER } });
    expect(r.statusCode).toBe(400);
    expect(r.body).toContain('<p id="error-code" class="error-code">invalid_request</p>');
    expect(r.body).not.toContain('<script>alert(1)');
    expect(r.body).toContain('The redirect_uri that did not match: <code id="error-shown" class="break">https://evil.example/cb?x=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code>');
    const back = backLink(r.body)!;
    expect(back[1]).toBe('https://photos.example/');
    expect(back[2]).toBe('Back to Photo &lt;Sync&gt;');
  });

  it('an error page about an app without a website, or about no app, leads home', async () => {
    const c = await makeClient(t, { website: null });
    const r = await t.app.inject({ method: 'GET', url: authorizeUrl({ response_type: 'code', client_id: c.client_id, redirect_uri: 'https://other.example/cb' }) });
    expect(backLink(r.body)?.[1]).toBe('/');
    const unknown = await t.app.inject({ method: 'GET', url: authorizeUrl({ response_type: 'code', client_id: 'nope' }) });
    expect(unknown.statusCode).toBe(400);
    expect(backLink(unknown.body)?.[1]).toBe('/');
  });
});
