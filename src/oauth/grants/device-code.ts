import { randomUUID } from 'node:crypto';
import { digest } from '../../crypto/secrets.js';
import { pollDeviceCode } from '../../store/device-codes.js';
import { DEVICE_CODE_GRANT_TYPE, devicePollProblem } from '../device.js';
import { OAuthError } from '../errors.js';
import { issuePair } from '../mint.js';
import { required } from '../params.js';
import { checkResources } from '../resources.js';
import { assertGrantAllowed } from './shared.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 8628 §3.4-3.5: a poll. One statement records it and, once the user
 * allowed, claims the request and issues the pair (exactly once); otherwise
 * devicePollProblem says which error the client should act on.
 */
export const deviceCodeGrant: GrantHandler = async (ctx, params, { client }, requested) => {
  assertGrantAllowed(client, DEVICE_CODE_GRANT_TYPE);
  const deviceCode = required(params, 'device_code');
  if (deviceCode.length > 200) throw new OAuthError('invalid_grant', 'The device code is invalid');
  const now = ctx.clock.now();
  const withRefresh = client.grant_types.includes('refresh_token');
  // The user approved on another device, without resources: the token request names them (RFC 8707 §2).
  const resources = checkResources(client, requested);
  const result = await issuePair(ctx.config, { client, now, withRefresh, signer: ctx.signer, idToken: false }, (pair) =>
    pollDeviceCode(ctx.db, { now, clientUuid: client.id, deviceCodeDigest: digest(deviceCode), grantId: randomUUID(), resources, pair }),
  );
  if (result.issued) return result.tokens;
  throw devicePollProblem(result.state, { clientUuid: client.id, now }) ?? new OAuthError('invalid_grant', 'The device code is invalid');
};
