import * as OTPAuth from 'otpauth';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../src/clock.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import type { TestContext } from '../helpers/app.js';
import { cookiesFrom, form } from '../helpers/forms.js';
import { decodeEntities, field } from '../helpers/html.js';

/** The code an authenticator app shows at the clock's time, `steps` periods off, by an independent implementation (otpauth). */
export function appCode(secret: string, clock: Clock, steps = 0): string {
  return OTPAuth.TOTP.generate({ secret: OTPAuth.Secret.fromBase32(secret), timestamp: clock.now().getTime() + steps * 30_000 });
}

export const byId = (html: string, tag: string, id: string): string | undefined => {
  const m = new RegExp(`<${tag} id="${id}"[^>]*>([^<]*)</${tag}>`).exec(html);
  return m ? decodeEntities(m[1]!) : undefined;
};

/** The recovery codes a page lists in `<ul id="recovery-codes">`. */
export function recoveryCodesIn(html: string): string[] {
  const list = /<ul id="recovery-codes"[^>]*>([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
}

type Ctx = Pick<TestContext, 'db' | 'clock'> & { app: FastifyInstance };

export function post(t: Ctx, session: SignedIn, path: string, values: Record<string, string>, withCsrf = true) {
  const body = withCsrf ? { _csrf: session.csrf(path), ...values } : values;
  return t.app.inject({ method: 'POST', url: path, ...form(body), headers: { ...form(body).headers, cookie: session.cookie } });
}

/** Signs `userId` in and turns TOTP on through the page: the secret (read from the page) and the recovery codes shown. */
export async function enrol(t: Ctx, userId: string) {
  const session = await signedInAs(t, userId);
  const start = await post(t, session, '/account/security/totp', {});
  if (start.statusCode !== 303) throw new Error(`enrolment did not start: ${start.statusCode} ${start.body}`);
  const page = await t.app.inject({ method: 'GET', url: '/account/security', headers: { cookie: session.cookie } });
  const secret = byId(page.body, 'code', 'totp-secret')!;
  const confirmed = await post(t, session, '/account/security/totp/confirm', { code: appCode(secret, t.clock) });
  if (confirmed.statusCode !== 200) throw new Error(`enrolment did not confirm: ${confirmed.statusCode}`);
  return { session, secret, recoveryCodes: recoveryCodesIn(confirmed.body), page };
}

/** A browser at the login page: posts the password and follows to the second step. Returns its cookies and the totp-form's token. */
export async function passwordStep(t: Ctx, user: { username: string; password: string }, returnTo = '/', ip = '192.0.2.10') {
  const login = await t.app.inject({ method: 'GET', url: '/login' });
  let cookie = cookiesFrom(login.headers['set-cookie']);
  const body = { _csrf: field(login.body, '_csrf')!, username: user.username, password: user.password, return_to: returnTo };
  const r = await t.app.inject({ method: 'POST', url: '/login', remoteAddress: ip, ...form(body), headers: { ...form(body).headers, cookie } });
  cookie = cookiesFrom(r.headers['set-cookie'], cookie);
  const page = await t.app.inject({ method: 'GET', url: '/login/totp', headers: { cookie } });
  return { r, page, cookie, csrf: field(page.body, '_csrf') };
}

export function secondStep(t: Ctx, step: { cookie: string; csrf?: string }, code: string, ip = '192.0.2.10') {
  const body = { _csrf: step.csrf ?? '', code };
  return t.app.inject({ method: 'POST', url: '/login/totp', remoteAddress: ip, ...form(body), headers: { ...form(body).headers, cookie: step.cookie } });
}
