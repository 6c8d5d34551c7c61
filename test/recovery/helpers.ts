import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { decodeEntities, field } from '../helpers/html.js';

/** A signed-out browser: keeps its cookies, posts forms with the CSRF token of the page it last read. */
export class Browser {
  cookie = '';
  constructor(
    private readonly app: FastifyInstance,
    readonly ip = '198.51.100.7',
    readonly userAgent = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  ) {}

  async get(url: string) {
    const r = await this.app.inject({ method: 'GET', url, remoteAddress: this.ip, headers: { cookie: this.cookie, 'user-agent': this.userAgent } });
    this.cookie = cookiesFrom(r.headers['set-cookie'], this.cookie);
    return r;
  }

  /** Reads `page`, then posts `values` to `action` with the page's CSRF token. */
  async submit(page: string, action: string, values: Record<string, string>) {
    const shown = await this.get(page);
    return this.post(action, { _csrf: csrfFor(shown.body, action) ?? field(shown.body, '_csrf') ?? '', ...values });
  }

  async post(url: string, values: Record<string, string>) {
    const f = form(values);
    const r = await this.app.inject({ method: 'POST', url, remoteAddress: this.ip, ...f, headers: { ...f.headers, cookie: this.cookie, 'user-agent': this.userAgent } });
    this.cookie = cookiesFrom(r.headers['set-cookie'], this.cookie);
    return r;
  }
}

/** The CSRF token of the form on a page that posts to `action`. */
export function csrfFor(html: string, action: string): string | undefined {
  const m = new RegExp(`<form[^>]*action="${action}"[^>]*>\\s*<input type="hidden" name="_csrf" value="([^"]*)"`).exec(html);
  return m ? decodeEntities(m[1]!) : undefined;
}

/** The queued mails (newest last) to `recipient`, any case. */
export function mailsTo(db: Kysely<Database>, recipient: string) {
  return db.selectFrom('mail_outbox').selectAll().where((eb) => eb(eb.fn('lower', ['recipient']), '=', recipient.toLowerCase())).orderBy('created_at').orderBy('id').execute();
}

/** The one-time link's token in a mail body (`/path?token=…`). */
export function tokenIn(body: string | null, path: string): string {
  const m = new RegExp(`${path.replace('/', '\\/')}\\?token=([A-Za-z0-9_%-]+)`).exec(body ?? '');
  if (!m) throw new Error(`no ${path} link in the mail`);
  return decodeURIComponent(m[1]!);
}

/** A page without the parts that differ between two renderings for one browser (none expected, but tokens would). */
export const pageText = (html: string) => decodeEntities(html);
