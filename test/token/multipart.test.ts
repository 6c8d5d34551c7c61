import { beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { useTestContext } from '../helpers/app.js';
import { makeClient } from '../helpers/fixtures.js';

/** Token requests as `curl -F` sends them: a real multipart body, built by FormData, over a real connection. */
const t = useTestContext();
let base: string;
let client: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  client = await makeClient(t, { grantTypes: ['client_credentials'] });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});

function formData(fields: [string, string | Blob][]): FormData {
  const f = new FormData();
  for (const [name, value] of fields) f.append(name, value);
  return f;
}

const send = (path: string, body: FormData) => fetch(`${base}${path}`, { method: 'POST', body });
const creds = (): [string, string][] => [
  ['client_id', client.client_id],
  ['client_secret', client.secret!],
];

describe('multipart/form-data at the token endpoints', () => {
  it('issues a token for client_credentials, and revokes and introspects it, all as multipart', async () => {
    const r = await send('/oauth/token', formData([['grant_type', 'client_credentials'], ['scope', 'read'], ...creds()]));
    expect(r.status).toBe(200);
    const { access_token } = await r.json();
    expect(access_token).toMatch(/^latch_at_/);

    const live = await send('/oauth/introspect', formData([['token', access_token], ...creds()]));
    expect(live.status).toBe(200);
    expect((await live.json()).active).toBe(true);

    const revoked = await send('/oauth/revoke', formData([['token', access_token], ...creds()]));
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toEqual({});
    const dead = await send('/oauth/introspect', formData([['token', access_token], ...creds()]));
    expect((await dead.json()).active).toBe(false);
  });

  it('refuses a repeated field, as for urlencoded bodies', async () => {
    const r = await send('/oauth/token', formData([['grant_type', 'client_credentials'], ['grant_type', 'password'], ...creds()]));
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: 'invalid_request', error_description: 'The parameter grant_type is repeated' });
  });

  it('refuses a file part 400 invalid_request', async () => {
    const r = await send('/oauth/token', formData([['grant_type', 'client_credentials'], ['upload', new Blob(['x'.repeat(10)], { type: 'text/plain' })], ...creds()]));
    expect(r.status).toBe(400);
    const body = await r.json();
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/File parts are not accepted/);
  });

  it('keeps the body limit: a field past 64 KiB, many fields adding up past it, or more than 100 parts is 413', async () => {
    const big = await send('/oauth/token', formData([['grant_type', 'client_credentials'], ['scope', 'r'.repeat(70 * 1024)], ...creds()]));
    expect(big.status).toBe(413);
    expect((await big.json()).error).toBe('invalid_request');
    const many = formData([['grant_type', 'client_credentials'], ...creds()]);
    for (let i = 0; i < 60; i++) many.append(`p${i}`, 'v'.repeat(1500));
    const sum = await send('/oauth/token', many);
    expect(sum.status).toBe(413);
    const parts = formData([['grant_type', 'client_credentials'], ...creds()]);
    for (let i = 0; i < 120; i++) parts.append(`q${i}`, 'v');
    const tooMany = await send('/oauth/token', parts);
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).error).toBe('invalid_request');
  });

  it('answers a malformed multipart body 400, never 500, and a NUL in a field 400', async () => {
    const broken = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
      payload: '--XyZ\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_cred',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toBe('invalid_request');
    const noBoundary = await t.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'multipart/form-data' }, payload: 'x' });
    expect(noBoundary.statusCode).toBe(400);
    const nul = await send('/oauth/token', formData([['grant_type', 'client_\u0000credentials'], ...creds()]));
    expect(nul.status).toBe(400);
  });

  it('stays a 415 everywhere else', async () => {
    const r = await send('/login', formData([['username', 'a'], ['password', 'b']]));
    expect(r.status).toBe(415);
  });
});
