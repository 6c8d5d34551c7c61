/**
 * Loopback IP literals per RFC 8252 §7.3. "localhost" is left out on purpose:
 * it can resolve elsewhere, so its redirect URIs must match exactly.
 */
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?].*)?$/s;

/** `uri` without its port, when it is an http loopback URI; null otherwise. */
function loopbackWithoutPort(uri: string): string | null {
  const m = LOOPBACK.exec(uri);
  if (!m) return null;
  if (m[2] !== undefined && Number(m[2]) > 65535) return null;
  return `http://${m[1]}${m[3] ?? ''}`;
}

/**
 * Whether `requested` is the registered URI: an exact string match (OAuth 2.1,
 * RFC 9700 §4.1.3), except that a native app's loopback URI may name any port,
 * since it listens on whichever one the system gives it (RFC 8252 §7.3). The
 * comparison stays on strings, so no normalisation can make two URIs "equal".
 */
export function redirectUriMatches(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  const a = loopbackWithoutPort(registered);
  return a !== null && a === loopbackWithoutPort(requested);
}

/** The registered URI `requested` matches, if any. */
export function findRegisteredRedirectUri(registered: readonly string[], requested: string): string | undefined {
  return registered.find((r) => redirectUriMatches(r, requested));
}
