import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hasDuplicateKeys } from '../../src/web/json-body.js';
import { useTestContext } from '../helpers/app.js';
import { makeClient } from '../helpers/fixtures.js';

const dup = (text: string) => hasDuplicateKeys(text, JSON.parse(text));

describe('JSON bodies with a repeated member name', () => {
  it('are detected at any level, however the name is spelled', () => {
    expect(dup('{"a":1,"a":2}')).toBe(true);
    expect(dup('{"a":1,"\\u0061":2}')).toBe(true);
    expect(dup('{"x":{"b":1,"b":1}}')).toBe(true);
    expect(dup('[{"b":1},{"c":[{"d":1,"d":{}}]}]')).toBe(true);
    expect(dup('{ "a" : 1 ,\n "a"\t: 1 }')).toBe(true);
  });

  it('are not imagined: colons and quotes inside strings, the same name in sibling objects', () => {
    expect(dup('{"a":"b\\":","c":["d", ":", "\\\\"]}')).toBe(false);
    expect(dup('["a", ":"]')).toBe(false);
    expect(dup('[{"a":1},{"a":2}]')).toBe(false);
    expect(dup('{"a":{"a":{"a":1}}}')).toBe(false);
    expect(dup('"a"')).toBe(false);
    fc.assert(fc.property(fc.jsonValue(), (v) => !dup(JSON.stringify(v))));
  });

  describe('at the token endpoint', () => {
    const t = useTestContext();
    let client: Awaited<ReturnType<typeof makeClient>>;
    beforeAll(async () => {
      client = await makeClient(t, { grantTypes: ['client_credentials'] });
    });

    const postJson = (payload: string) =>
      t.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json' }, payload });

    it('are refused 400 invalid_request, as repeated form parameters are', async () => {
      const creds = `"client_id":${JSON.stringify(client.client_id)},"client_secret":${JSON.stringify(client.secret)}`;
      const ok = await postJson(`{"grant_type":"client_credentials",${creds}}`);
      expect(ok.statusCode).toBe(200);
      for (const payload of [
        `{"grant_type":"password","grant_type":"client_credentials",${creds}}`,
        `{"grant_type":"client_credentials",${creds},"scope":"write","scope":"read"}`,
      ]) {
        const r = await postJson(payload);
        expect(r.statusCode, payload).toBe(400);
        expect(r.json()).toEqual({ error: 'invalid_request', error_description: 'The JSON body repeats a member name' });
      }
      const form = await t.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `grant_type=client_credentials&grant_type=password&client_id=${client.client_id}`,
      });
      expect(form.statusCode).toBe(400);
      expect(form.json().error).toBe('invalid_request');
    });

    it('still refuses prototype poisoning and broken JSON with 400', async () => {
      expect((await postJson('{"__proto__":{"x":1}}')).statusCode).toBe(400);
      expect((await postJson('{"constructor":{"prototype":{"x":1}}}')).statusCode).toBe(400);
      const broken = await postJson('{"grant_type":');
      expect(broken.statusCode).toBe(400);
      expect(broken.json().error).toBe('invalid_request');
    });
  });
});
