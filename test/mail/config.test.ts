import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('e-mail settings', () => {
  it('default to no e-mail, latch@localhost and the site name latch', () => {
    const c = loadConfig({});
    expect(c.smtp).toBeUndefined();
    expect(c.mailFrom).toEqual({ name: undefined, address: 'latch@localhost' });
    expect(c.siteName).toBe('latch');
  });

  it('read smtp:// and smtps:// URLs with %-encoded credentials and default ports', () => {
    const c = loadConfig({ LATCH_SMTP_URL: 'smtp://me%40x.example:p%40ss%3Aw@mail.example.com:2525' });
    expect(c.smtp).toMatchObject({ host: 'mail.example.com', port: 2525, secure: false, user: 'me@x.example', display: 'smtp://mail.example.com:2525' });
    expect(c.smtp!.password).toBe('p@ss:w');
    expect(loadConfig({ LATCH_SMTP_URL: 'smtps://mail.example.com' }).smtp).toMatchObject({ port: 465, secure: true, user: undefined, display: 'smtps://mail.example.com:465' });
    expect(loadConfig({ LATCH_SMTP_URL: 'smtp://[::1]' }).smtp).toMatchObject({ host: '::1', port: 587 });
  });

  it('read LATCH_MAIL_FROM as an address or Name <address>, and LATCH_SITE_NAME', () => {
    expect(loadConfig({ LATCH_MAIL_FROM: '"Acme" <id@acme.example>' }).mailFrom).toEqual({ name: 'Acme', address: 'id@acme.example' });
    expect(loadConfig({ LATCH_MAIL_FROM: 'Acme Sign-in <id@acme.example>' }).mailFrom).toEqual({ name: 'Acme Sign-in', address: 'id@acme.example' });
    expect(loadConfig({ LATCH_SITE_NAME: '  Acme  ' }).siteName).toBe('Acme');
  });

  it.each([
    ['LATCH_SMTP_URL', 'http://mail.example.com', /^LATCH_SMTP_URL: expected smtp:\/\/\[user:pass@\]host:port or smtps:\/\/.*scheme http/],
    ['LATCH_SMTP_URL', 'mail.example.com:25', /^LATCH_SMTP_URL: expected smtp:\/\//],
    ['LATCH_SMTP_URL', 'smtp://mail.example.com:25/?debug=true', /^LATCH_SMTP_URL: .*no path, query or fragment/],
    ['LATCH_SMTP_URL', 'smtp://:pw@mail.example.com:25', /^LATCH_SMTP_URL: .*a password needs a user/],
    ['LATCH_MAIL_FROM', 'not an address', /^LATCH_MAIL_FROM: expected an e-mail address/],
    ['LATCH_MAIL_FROM', 'a@b.example\nBcc: c@d.example', /^LATCH_MAIL_FROM: expected an e-mail address on one line/],
    ['LATCH_SITE_NAME', 'x'.repeat(101), /^LATCH_SITE_NAME: expected a name of 1 to 100 characters/],
  ])('refuse %s=%s with one line naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('never repeat the SMTP URL (or its password) in an error, nor carry the password when the config is serialized', () => {
    try {
      loadConfig({ LATCH_SMTP_URL: 'ftp://user:hunter2-secret@mail.example.com' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^LATCH_SMTP_URL: .*\(got "…"\)$/);
      expect((err as Error).message).not.toContain('hunter2');
    }
    const c = loadConfig({ LATCH_SMTP_URL: 'smtp://user:hunter2-secret@mail.example.com:25' });
    expect(JSON.stringify(c)).not.toContain('hunter2');
    expect(c.smtp!.password).toBe('hunter2-secret');
  });
});
