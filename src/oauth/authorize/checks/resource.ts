import { checkResources } from '../../resources.js';
import type { CheckInput } from '../types.js';

/** resource (RFC 8707 §2, repeatable): bound to the code and its grant; invalid_target when bad or not the client's. */
export function checkResource({ client, params }: CheckInput): string[] {
  return checkResources(client, params.resource ?? []);
}
