/** A field-level problem, shown beside the field in forms and as one line on the command line. */
export class ValidationError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(Object.entries(fields).map(([f, m]) => `${f}: ${m}`).join('; '));
  }
}

/** The longest lifetime anything latch issues may be given: 10 years, far past any real need, far below Date's range. */
export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

/** Why `seconds` is not a lifetime latch accepts (1 s to 10 years), or null when it is. */
export function lifetimeProblem(seconds: number): string | null {
  return Number.isInteger(seconds) && seconds > 0 && seconds <= MAX_LIFETIME_SECONDS
    ? null
    : `must be a whole number of seconds from 1 to ${MAX_LIFETIME_SECONDS} (10 years)`;
}
