import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type Timestamp = ColumnType<Date, Date, Date>;
type CreatedAt = ColumnType<Date, Date | undefined, never>;

export type ClientStatus = 'pending' | 'active' | 'suspended' | 'denied';

export interface UsersTable {
  id: string;
  username: string;
  email: string | null;
  password_hash: string;
  is_admin: Generated<boolean>;
  /** False until something verifies the address (OIDC `email_verified`). */
  email_verified: Generated<boolean>;
  /** Set while an administrator has disabled the account: no sign-in, no session, no token. */
  disabled_at: Generated<Date | null>;
  created_at: CreatedAt;
}

/** RFC 9068 or a random string. */
export type AccessTokenFormat = 'opaque' | 'jwt';

export interface ClientsTable {
  id: string;
  client_id: string;
  secret_digest: string | null;
  name: string;
  description: Generated<string>;
  website: string | null;
  owner_id: string | null;
  status: ClientStatus;
  status_reason: string | null;
  redirect_uris: string[];
  scopes: string[];
  grant_types: string[];
  is_confidential: boolean;
  skip_consent: Generated<boolean>;
  /** May introspect other clients' tokens (a resource server); every client may introspect its own. */
  may_introspect: Generated<boolean>;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  /** How its ID tokens are signed. */
  id_token_alg: Generated<SigningAlg>;
  /** RP-Initiated Logout: where it may send the browser after signing out (exact match). */
  post_logout_redirect_uris: Generated<string[]>;
  /** Back-Channel Logout: where it is told, by POST, that a session it signed in to ended. */
  backchannel_logout_uri: Generated<string | null>;
  /** RFC 9068: `jwt` access tokens are signed JWTs; `opaque` ones random strings. */
  access_token_format: Generated<AccessTokenFormat>;
  /** RFC 8707: the resources its tokens may be for (empty: any absolute URI). */
  resources: Generated<string[]>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ClientDecisionsTable {
  id: Generated<string>;
  client_id: string;
  decision: 'approve' | 'deny' | 'suspend' | 'reinstate';
  reason: string | null;
  decided_by: string | null;
  decided_at: Timestamp;
}

export interface AuthorizationCodesTable {
  code_digest: string;
  client_id: string;
  user_id: string;
  redirect_uri: string | null;
  scope: string;
  code_challenge: string | null;
  code_challenge_method: string | null;
  expires_at: Timestamp;
  consumed_at: Timestamp | null;
  /** OpenID Connect: the request's nonce and the sign-in behind the code (null: not known). */
  nonce: Generated<string | null>;
  auth_time: Generated<Date | null>;
  sid: Generated<string | null>;
  amr: Generated<string[] | null>;
  /** RFC 8707: the resources asked for (empty: none). */
  resources: Generated<string[]>;
  created_at: CreatedAt;
}

export interface GrantsTable {
  id: string;
  client_id: string;
  user_id: string | null;
  scope: string;
  code_digest: string | null;
  revoked_at: Timestamp | null;
  /** The sign-in behind the grant, repeated in each refreshed ID token (null: not known). */
  auth_time: Generated<Date | null>;
  sid: Generated<string | null>;
  amr: Generated<string[] | null>;
  /** RFC 8707: the resources the grant is bound to (empty: none); its tokens may narrow them. */
  resources: Generated<string[]>;
  created_at: CreatedAt;
}

export type AccessTokenKind = 'bearer' | 'personal';

export interface AccessTokensTable {
  id: Generated<string>;
  token_digest: string;
  grant_id: string | null;
  client_id: string;
  user_id: string | null;
  scope: string;
  kind: AccessTokenKind;
  label: string | null;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  /** RFC 8707: the resources it is for (empty: the issuer). */
  audience: Generated<string[]>;
  created_at: CreatedAt;
}

export interface RefreshTokensTable {
  token_digest: string;
  grant_id: string;
  client_id: string;
  user_id: string | null;
  access_token_digest: string | null;
  scope: string;
  expires_at: Timestamp | null;
  rotated_at: Timestamp | null;
  replaced_by: string | null;
  revoked_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface ConsentsTable {
  user_id: string;
  client_id: string;
  scope: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SessionsTable {
  id_digest: string;
  user_id: string;
  csrf_secret: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  /** When and how the user authenticated (OIDC `auth_time`, `amr`). */
  auth_time: Generated<Date>;
  amr: Generated<string[]>;
  /** The session's public id (OIDC `sid`): random, unrelated to the cookie. */
  sid: Generated<string>;
  /** Where the session was made, and when it was last used (updated at most once a minute). */
  last_seen_at: ColumnType<Date | null, Date | undefined, Date>;
  address: ColumnType<string | null, string | null | undefined, string | null>;
  user_agent: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface LoginAttemptsTable {
  key: string;
  failures: number;
  first_failure_at: Timestamp;
  blocked_until: Timestamp | null;
}

export interface MailOutboxTable {
  id: Generated<string>;
  kind: string;
  recipient: string;
  subject: string;
  /** Null once the mail is sent or given up: bodies carry one-time links. */
  text_body: string | null;
  html_body: string | null;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  expires_at: Timestamp | null;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
  given_up_at: Timestamp | null;
}

export type DeviceCodeStatus = 'pending' | 'approved' | 'denied';

export interface DeviceCodesTable {
  device_code_digest: string;
  user_code_digest: string;
  client_id: string;
  scope: string;
  status: DeviceCodeStatus;
  user_id: string | null;
  expires_at: Timestamp;
  last_polled_at: Timestamp | null;
  consumed_at: Timestamp | null;
  created_at: CreatedAt;
}

export type AuditActorKind = 'user' | 'operator' | 'anonymous' | 'client';

export interface AuditEventsTable {
  id: Generated<string>;
  at: Timestamp;
  actor_kind: AuditActorKind;
  actor_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  target_user_id: string | null;
  target_client_id: string | null;
  address: string | null;
  user_agent: string | null;
  outcome: 'success' | 'failure';
  details: ColumnType<Record<string, unknown>, string, string>;
}

export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';
export type SigningKeyState = 'next' | 'current' | 'retired';

export interface SigningKeysTable {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyState;
  /** The public JWK, as JSON. */
  public_jwk: string;
  /** The private JWK, sealed with LATCH_KEY_SECRET (src/crypto/sealed.ts); never in clear. */
  private_jwk_sealed: string;
  created_at: Timestamp;
  activated_at: Timestamp | null;
  retired_at: Timestamp | null;
  /** A retired key is published until then: the last token it signed has expired. */
  delete_after: Timestamp | null;
}

export interface UserTotpTable {
  user_id: string;
  /** The base32 secret, sealed with LATCH_KEY_SECRET (purpose totp-secret, context the user id); never in clear. */
  secret_sealed: string;
  /** Null while enrolment waits for its first code; only a confirmed secret is active. */
  confirmed_at: Timestamp | null;
  /** The time step of the last accepted code (bigint, read as a string by pg). */
  last_step: ColumnType<string | number, number | undefined, number>;
  created_at: Timestamp;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_digest: string;
  used_at: Timestamp | null;
}

export interface PendingSigninsTable {
  id_digest: string;
  user_id: string;
  return_to: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface PasskeysTable {
  /** The credential id (base64url). */
  id: string;
  user_id: string;
  name: string;
  /** The COSE public key (base64url); public, so in clear. */
  public_key: string;
  /** The authenticator's signature counter (bigint, read as a string by pg). */
  counter: ColumnType<string | number, number | undefined, number>;
  device_type: string;
  backed_up: boolean;
  transports: ColumnType<string[], string[] | undefined, string[]>;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

export interface WebauthnChallengesTable {
  id_digest: string;
  purpose: 'register' | 'signin';
  user_id: string | null;
  challenge: string;
  return_to: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
}

/** What a self-registered client (RFC 7591) sent that latch keeps but does not act on. */
export interface RegistrationMetadata {
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none';
  logo_uri?: string;
  contacts?: string[];
  software_id?: string;
  software_version?: string;
}

/** A client that registered itself (RFC 7591); its row marks it as registered. */
export interface ClientRegistrationsTable {
  client_id: string;
  /** Digest of the RFC 7592 registration access token. */
  access_token_digest: string;
  metadata: ColumnType<RegistrationMetadata, string, string>;
  /** Where the registration came from. */
  address: string | null;
  created_at: Timestamp;
}

/** Initial access tokens for LATCH_REGISTRATION=token (digests only). */
export interface RegistrationTokensTable {
  token_digest: string;
  uses_left: number;
  expires_at: Timestamp;
  created_at: Timestamp;
}

export type AccountLinkPurpose = 'password_reset' | 'email_verification';

/** A one-time link sent to a user (password reset, e-mail verification): only the token's digest is kept. */
export interface AccountLinksTable {
  token_digest: string;
  purpose: AccountLinkPurpose;
  user_id: string;
  /** The address a verification link verifies; null for a reset. */
  email: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface Database {
  users: UsersTable;
  clients: ClientsTable;
  client_decisions: ClientDecisionsTable;
  authorization_codes: AuthorizationCodesTable;
  grants: GrantsTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  consents: ConsentsTable;
  sessions: SessionsTable;
  login_attempts: LoginAttemptsTable;
  mail_outbox: MailOutboxTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
  device_codes: DeviceCodesTable;
  user_totp: UserTotpTable;
  recovery_codes: RecoveryCodesTable;
  pending_signins: PendingSigninsTable;
  passkeys: PasskeysTable;
  webauthn_challenges: WebauthnChallengesTable;
  client_registrations: ClientRegistrationsTable;
  registration_tokens: RegistrationTokensTable;
  account_links: AccountLinksTable;
}

export type User = Selectable<UsersTable>;
export type Client = Selectable<ClientsTable>;
export type NewClient = Insertable<ClientsTable>;
export type AuthorizationCode = Selectable<AuthorizationCodesTable>;
export type AccessToken = Selectable<AccessTokensTable>;
export type RefreshToken = Selectable<RefreshTokensTable>;
export type ClientDecision = Selectable<ClientDecisionsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
