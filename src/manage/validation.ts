/** A field-level problem, shown beside the field in forms and as one line on the command line. */
export class ValidationError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(Object.entries(fields).map(([f, m]) => `${f}: ${m}`).join('; '));
  }
}
