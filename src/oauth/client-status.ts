import type { Client } from '../db/schema.js';
import { OAuthError } from './errors.js';

const WHY: Record<Exclude<Client['status'], 'active'>, string> = {
  pending: 'The application is waiting for approval',
  suspended: 'The application is suspended',
  denied: 'The application was not approved',
};

/** Why a client may not take part in any flow now, or null when it is active. */
export function clientStatusProblem(client: Pick<Client, 'status'>): OAuthError | null {
  return client.status === 'active' ? null : new OAuthError('invalid_application_status', WHY[client.status]);
}
