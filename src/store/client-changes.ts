import type { DatabaseHandle, Listening } from '../db/database.js';
import { CLIENT_CHANGES_CHANNEL } from '../../migrations/0002_clients.js';
import { forgetCachedClients, setClientNoticesDown } from './clients.js';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Keeps this process's client cache (findClientForAuth) in step with changes made
 * anywhere: a trigger announces every changed client; while the announcements
 * cannot be heard, the cache is not used. Stop it before closing the database.
 */
export function watchClientChanges(handle: Pick<DatabaseHandle, 'listen'>, log: Log): Listening {
  const source = {};
  let lost = false;
  const listening = handle.listen(CLIENT_CHANGES_CHANNEL, {
    notify: forgetCachedClients,
    up() {
      setClientNoticesDown(source, false);
      if (lost) log.info({}, 'client change listener reconnected: client cache in use again');
      lost = false;
    },
    down(err) {
      setClientNoticesDown(source, true);
      if (err && !lost) log.warn({ err: err.message }, 'client change listener lost: client cache bypassed until it reconnects');
      if (err) lost = true;
    },
  });
  return {
    async stop() {
      await listening.stop();
      setClientNoticesDown(source, false);
    },
  };
}
