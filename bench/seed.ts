/**
 * Single-use items the scenarios spend, written straight into the tables as
 * latch leaves them (login, authorization endpoint, device endpoint), in
 * batches of one statement each: a run needs tens of thousands.
 */
import { randomUUID } from 'node:crypto';
import { digest, newSecret, PREFIX } from '../src/crypto/secrets.js';
import { s256 } from '../src/oauth/pkce.js';

export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export const REDIRECT = 'http://127.0.0.1:8080/callback';
export const VERIFIER = 'bench-verifier-' + 'x'.repeat(40);
const BATCH = 5000;

/** A live user access token, for introspection and userinfo. */
export async function seedLiveToken(db: Queryable, clientUuid: string, userId: string): Promise<string> {
  const token = newSecret(PREFIX.accessToken);
  await db.query(
    `insert into access_tokens (token_digest, client_id, user_id, scope, kind, expires_at, created_at)
     values ($1, $2, $3, 'read', 'bearer', now() + interval '1 day', now())`,
    [digest(token), clientUuid, userId],
  );
  return token;
}

/** Live user access tokens (valid for a day), each with its own random digest, so lookups spread over the index. */
export async function seedLiveTokens(db: Queryable, clientUuid: string, userId: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let done = 0; done < count; done += BATCH) {
    const digests: string[] = [];
    for (let i = 0; i < Math.min(BATCH, count - done); i++) {
      const token = newSecret(PREFIX.accessToken);
      tokens.push(token);
      digests.push(digest(token));
    }
    await db.query(
      `insert into access_tokens (token_digest, client_id, user_id, scope, kind, expires_at, created_at)
       select d, $2, $3, 'read', 'bearer', now() + interval '1 day', now() from unnest($1::text[]) as d`,
      [digests, clientUuid, userId],
    );
  }
  return tokens;
}

/** Refresh tokens, each in a family of its own with its own access token, as a login would leave them. */
export async function seedRefreshTokens(db: Queryable, clientUuid: string, userId: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let done = 0; done < count; done += BATCH) {
    const n = Math.min(BATCH, count - done);
    const grants: string[] = [];
    const access: string[] = [];
    const refresh: string[] = [];
    for (let i = 0; i < n; i++) {
      const token = newSecret(PREFIX.refreshToken);
      tokens.push(token);
      grants.push(randomUUID());
      access.push(digest(newSecret(PREFIX.accessToken)));
      refresh.push(digest(token));
    }
    await db.query(
      `with g as (
         insert into grants (id, client_id, user_id, scope, created_at)
         select id, $2, $3, 'read', now() from unnest($1::uuid[]) as id returning id),
       a as (
         insert into access_tokens (token_digest, grant_id, client_id, user_id, scope, kind, expires_at, created_at)
         select d, g, $2, $3, 'read', 'bearer', now() + interval '2 hours', now()
         from unnest($4::text[], $1::uuid[]) as x(d, g) returning token_digest)
       insert into refresh_tokens (token_digest, grant_id, client_id, user_id, access_token_digest, scope, expires_at, created_at)
       select r, g, $2, $3, d, 'read', now() + interval '30 days', now()
       from unnest($5::text[], $1::uuid[], $4::text[]) as x(r, g, d)`,
      [grants, clientUuid, userId, access, refresh],
    );
  }
  return tokens;
}

/**
 * Authorization codes with a PKCE challenge, as the authorization endpoint
 * stores them; `openid` ones also carry a nonce and the sign-in facts (so the
 * exchange signs an ID token), in columns only newer schemas have.
 */
export async function seedCodes(db: Queryable, clientUuid: string, userId: string, count: number, openid = false): Promise<string[]> {
  const codes: string[] = [];
  const challenge = s256(VERIFIER);
  for (let done = 0; done < count; done += BATCH) {
    const digests: string[] = [];
    for (let i = 0; i < Math.min(BATCH, count - done); i++) {
      const code = newSecret(PREFIX.code);
      codes.push(code);
      digests.push(digest(code));
    }
    await db.query(
      openid
        ? `insert into authorization_codes (code_digest, client_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, nonce, auth_time, sid, amr, expires_at, created_at)
           select d, $2, $3, $4, 'openid read', $5, 'S256', 'bench-nonce', now(), 'bench-sid', array['pwd'], now() + interval '1 hour', now() from unnest($1::text[]) as d`
        : `insert into authorization_codes (code_digest, client_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, expires_at, created_at)
           select d, $2, $3, $4, 'read', $5, 'S256', now() + interval '1 hour', now() from unnest($1::text[]) as d`,
      [digests, clientUuid, userId, REDIRECT, challenge],
    );
  }
  return codes;
}

/** Device authorization requests still waiting for the user, never polled yet. */
export async function seedDeviceCodes(db: Queryable, clientUuid: string, count: number): Promise<string[]> {
  const codes: string[] = [];
  for (let done = 0; done < count; done += BATCH) {
    const devices: string[] = [];
    const users: string[] = [];
    for (let i = 0; i < Math.min(BATCH, count - done); i++) {
      const code = newSecret(PREFIX.deviceCode);
      codes.push(code);
      devices.push(digest(code));
      users.push(digest(newSecret('user_')));
    }
    await db.query(
      `insert into device_codes (device_code_digest, user_code_digest, client_id, scope, status, expires_at, created_at)
       select d, u, $3, 'read', 'pending', now() + interval '15 minutes', now() from unnest($1::text[], $2::text[]) as x(d, u)`,
      [devices, users, clientUuid],
    );
  }
  return codes;
}
