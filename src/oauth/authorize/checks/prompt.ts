import { OAuthError } from '../../errors.js';
import type { CheckInput } from '../types.js';

export const PROMPT_VALUES = ['none', 'login', 'consent'] as const;
export type PromptValue = (typeof PROMPT_VALUES)[number];

/**
 * prompt (OIDC Core §3.1.2.1): space-separated values latch supports; `none`
 * may not be combined with another value. The set of values asked for.
 */
export function checkPrompt({ params }: CheckInput): Set<PromptValue> {
  const values = new Set<PromptValue>();
  if (params.prompt === undefined) return values;
  for (const value of params.prompt.split(' ').filter((v) => v !== '')) {
    if (!(PROMPT_VALUES as readonly string[]).includes(value)) {
      throw new OAuthError('invalid_request', `Unsupported prompt value; supported: ${PROMPT_VALUES.join(', ')}`);
    }
    values.add(value as PromptValue);
  }
  if (values.has('none') && values.size > 1) throw new OAuthError('invalid_request', 'prompt=none cannot be combined with another value');
  return values;
}
