export const OOB_URI = 'urn:ietf:wg:oauth:2.0:oob';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Why a redirect URI may not be registered, or null when it may: absolute https,
 * http only on loopback, a custom scheme for native apps (RFC 8252 §7.1), or the
 * out-of-band URN; never a fragment (RFC 6749 §3.1.2).
 */
export function redirectUriProblem(uri: string): string | null {
  if (uri === OOB_URI) return null;
  if (uri.length > 2000) return 'is longer than 2000 characters';
  if (/\s/.test(uri)) return 'contains white space';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.hash || uri.includes('#')) return 'must not contain a fragment';
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https') return url.hostname ? null : 'has no host';
  if (scheme === 'http') {
    return isLoopbackHost(url.hostname) ? null : 'must use https (http is allowed only for 127.0.0.1, [::1] and localhost)';
  }
  if (['javascript', 'data', 'file', 'vbscript', 'blob', 'about', 'ftp', 'ws', 'wss'].includes(scheme)) {
    return `uses the scheme "${scheme}", which cannot receive a redirect`;
  }
  // Private-use schemes should be reverse-DNS names (RFC 8252 §7.1); a dot keeps out generic ones.
  return scheme.includes('.') ? null : 'custom schemes must be reverse-DNS names such as com.example.app:/callback';
}
