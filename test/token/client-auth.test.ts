import { beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, useTestContext } from '../helpers/app.js';
import { basic, makeClient } from '../helpers/fixtures.js';
import { decideClient } from '../../src/manage/clients/index.js';
import { OPERATOR } from '../../src/manage/actor.js';
import { deleteClient } from '../../src/store/clients.js';

const t = useTestContext();
let client: Awaited<ReturnType<typeof makeClient>>;
let pub: Awaited<ReturnType<typeof makeClient>>;

beforeAll(async () => {
  client = await makeClient(t, { grantTypes: ['client_credentials'] });
  pub = await makeClient(t, { confidential: false, grantTypes: ['authorization_code', 'refresh_token'] });
});

const token = (payload: Record<string, string>, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/oauth/token', payload: new URLSearchParams(payload).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });

describe('client authentication at the token endpoint', () => {
  it('accepts HTTP Basic (client_secret_basic)', async () => {
    const r = await token({ grant_type: 'client_credentials' }, { authorization: basic(client.client_id, client.secret) });
    expect(r.statusCode).toBe(200);
  });

  it('decodes Basic credentials as form-urlencoded (RFC 6749 §2.3.1)', async () => {
    const encodedId = '%' + client.client_id.charCodeAt(0).toString(16) + client.client_id.slice(1);
    const raw = 'Basic ' + Buffer.from(`${encodedId}:${client.secret}`).toString('base64');
    const r = await token({ grant_type: 'client_credentials' }, { authorization: raw });
    expect(r.statusCode).toBe(200);
  });

  it('accepts credentials in the body (client_secret_post), form and JSON alike', async () => {
    const form = await token({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.secret });
    expect(form.statusCode).toBe(200);
    const json = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.secret },
    });
    expect(json.statusCode).toBe(200);
    expect(json.json().token_type).toBe('Bearer');
  });

  it('refuses two methods at once with invalid_client', async () => {
    const r = await token(
      { grant_type: 'client_credentials', client_secret: client.secret },
      { authorization: basic(client.client_id, client.secret) },
    );
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm="latch"/);
  });

  it('refuses a confidential client that sends no secret', async () => {
    const r = await token({ grant_type: 'client_credentials', client_id: client.client_id });
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
    expect(r.headers['www-authenticate']).toBeUndefined();
  });

  it('refuses a wrong secret, with the Basic challenge when Basic was tried', async () => {
    const r = await token({ grant_type: 'client_credentials' }, { authorization: basic(client.client_id, 'latch_cs_wrong') });
    expect(r.statusCode).toBe(401);
    expect(r.json()).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
    expect(r.headers['www-authenticate']).toContain('Basic');
  });

  it('refuses an unknown client and malformed Basic credentials', async () => {
    expect((await token({ grant_type: 'client_credentials' }, { authorization: basic('nobody', 'x') })).statusCode).toBe(401);
    const r = await token({ grant_type: 'client_credentials' }, { authorization: 'Basic !!!not-base64' });
    expect(r.statusCode).toBe(401);
    expect(r.json().error).toBe('invalid_client');
  });

  it('lets a public client identify itself by client_id alone, and refuses a secret for it', async () => {
    const r = await token({ grant_type: 'refresh_token', client_id: pub.client_id, refresh_token: 'latch_rt_unknown' });
    expect(r.json().error).toBe('invalid_grant');
    const withSecret = await token({ grant_type: 'refresh_token', client_id: pub.client_id, client_secret: 'x', refresh_token: 'x' });
    expect(withSecret.json().error).toBe('invalid_client');
  });

  it('answers a pending or suspended client with 400 invalid_application_status, and a deleted one with invalid_client', async () => {
    const c = await makeClient(t, { grantTypes: ['client_credentials'] });
    await decideClient(t, OPERATOR, c.client_id, 'suspend', { reason: 'abuse' });
    const suspended = await token({ grant_type: 'client_credentials' }, { authorization: basic(c.client_id, c.secret) });
    expect(suspended.statusCode).toBe(400);
    expect(suspended.json().error).toBe('invalid_application_status');

    const manual = await createTestContext({ LATCH_APP_APPROVAL: 'manual' });
    try {
      const p = await makeClient(manual, { grantTypes: ['client_credentials'] });
      expect(p.status).toBe('pending');
      const pending = await manual.app.inject({
        method: 'POST',
        url: '/oauth/token',
        payload: { grant_type: 'client_credentials' },
        headers: { authorization: basic(p.client_id, p.secret) },
      });
      expect(pending.statusCode).toBe(400);
      expect(pending.json().error).toBe('invalid_application_status');
    } finally {
      await manual.close();
    }

    await deleteClient(t.db, c.client_id);
    const deleted = await token({ grant_type: 'client_credentials' }, { authorization: basic(c.client_id, c.secret) });
    expect(deleted.statusCode).toBe(401);
    expect(deleted.json().error).toBe('invalid_client');
  });

  it('refuses an unknown grant_type only after authenticating the client', async () => {
    const anonymous = await token({ grant_type: 'urn:example:magic' });
    expect(anonymous.json().error).toBe('invalid_client');
    const r = await token({ grant_type: 'urn:example:magic' }, { authorization: basic(client.client_id, client.secret) });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toBe('unsupported_grant_type');
    const missing = await token({}, { authorization: basic(client.client_id, client.secret) });
    expect(missing.json()).toEqual({ error: 'invalid_request', error_description: 'The grant_type parameter is missing' });
  });
});

describe('hostile client credentials', () => {
  it('answers a Basic client id carrying NUL or control characters with invalid_client, not a server error', async () => {
    for (const id of ['%00', 'abc%00def', '%0Aname']) {
      const raw = 'Basic ' + Buffer.from(`${id}:secret`).toString('base64');
      const r = await token({ grant_type: 'client_credentials' }, { authorization: raw });
      expect(r.statusCode).toBe(401);
      expect(r.json().error).toBe('invalid_client');
    }
  });
});
