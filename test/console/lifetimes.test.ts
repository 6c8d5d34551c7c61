import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIFETIME_SECONDS } from '../../src/manage/validation.js';
import { useTestContext } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { makeUser } from '../helpers/fixtures.js';
import { signedInAs, type SignedIn } from '../helpers/session.js';
import { validApp } from './helpers.js';
import { pagePost } from '../helpers/forms.js';
import { byId } from '../helpers/html.js';

/** Lifetimes are bounded (1 s to 10 years): an overflow is a field error, never a 500. */
const OVERFLOW = '99999999999999999999';
const TEN_YEARS = String(10 * 365 * 24 * 3600);

const t = useTestContext();
let asOwner: SignedIn;
let clientId: string;
const run = (argv: string[]) => cli(argv, { clock: t.clock, openDb: async () => ({ ...t.handle, close: async () => {} }) });

beforeAll(async () => {
  asOwner = await signedInAs(t, (await makeUser(t, { username: 'lifetime-owner' })).id);
  const r = await pagePost(t, asOwner, '/apps', validApp({ name: 'Lifetimes' }));
  expect(r.statusCode).toBe(201);
  clientId = byId(r.body, 'client-id')!;
});

describe('lifetimes', () => {
  it('the maximum is 10 years', () => {
    expect(MAX_LIFETIME_SECONDS).toBe(Number(TEN_YEARS));
  });

  it('a console test token with an overflowing lifetime is a 400 with a field error', async () => {
    const r = await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read', ttl: OVERFLOW });
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-ttl')).toMatch(/from 1 to 315360000 \(10 years\)/);
    const ok = await pagePost(t, asOwner, `/apps/${clientId}/tokens`, { scopes: 'read', ttl: TEN_YEARS });
    expect(ok.statusCode).toBe(201);
  });

  it('bin/latch token create --ttl past 10 years exits 1 with one line', async () => {
    const r = await run(['token', 'create', '--client', clientId, '--ttl', OVERFLOW]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^latch: database: .*\nlatch token create: ttl: must be a whole number of seconds from 1 to 315360000 \(10 years\)\n$/);
    const past = await run(['token', 'create', '--client', clientId, '--ttl', String(Number(TEN_YEARS) + 1)]);
    expect(past.code).toBe(1);
  });

  it('client access and refresh token lifetimes are bounded alike, in the console and the CLI', async () => {
    const r = await pagePost(t, asOwner, `/apps/${clientId}/edit`, validApp({ name: 'Lifetimes', access_token_ttl: OVERFLOW, refresh_token_ttl: OVERFLOW }));
    expect(r.statusCode).toBe(400);
    expect(byId(r.body, 'error-access_token_ttl')).toMatch(/10 years/);
    expect(byId(r.body, 'error-refresh_token_ttl')).toMatch(/10 years/);
    const c = await run(['client', 'update', clientId, '--refresh-token-ttl', OVERFLOW]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('refresh_token_ttl: must be a whole number of seconds from 1 to 315360000');
  });
});
