import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_clients.js';
import * as m0004 from './0004_signing_keys.js';
import * as m0007 from './0007_mail_outbox.js';
import * as m0008 from './0008_audit_events.js';
import * as m0009 from './0009_device_codes.js';
import * as m0010 from './0010_oidc.js';
import * as m0011 from './0011_totp.js';
import * as m0012 from './0012_logout.js';
import * as m0013 from './0013_jwt_access_tokens.js';
import * as m0014 from './0014_registration.js';
import * as m0015 from './0015_recovery.js';
import * as m0016 from './0016_passkeys.js';
import * as m0017 from './0017_user_admin.js';

/** Every migration, by name, in the order they run (Kysely sorts by name). */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_clients': m0002,
  '0004_signing_keys': m0004,
  '0007_mail_outbox': m0007,
  '0008_audit_events': m0008,
  '0009_device_codes': m0009,
  '0010_oidc': m0010,
  '0011_totp': m0011,
  '0012_logout': m0012,
  '0013_jwt_access_tokens': m0013,
  '0014_registration': m0014,
  '0015_recovery': m0015,
  '0016_passkeys': m0016,
  '0017_user_admin': m0017,
};
