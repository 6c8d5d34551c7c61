/** Explicit, small: nothing latch accepts is larger than a registration form. */
export const BODY_LIMIT = 64 * 1024;
