/** Error codes of RFC 6749 §4.1.2.1/§5.2, RFC 6750 §3.1, RFC 7009, RFC 8628 §3.5, RFC 8707 §2, RFC 7591 §3.2.2, OIDC Core §3.1.2.6 and latch's own. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'invalid_application_status'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_token'
  | 'unauthorized'
  | 'insufficient_scope'
  | 'not_found'
  | 'rate_limited'
  | 'server_error'
  | 'temporarily_unavailable';

const DEFAULT_STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  invalid_token: 401,
  unauthorized: 401,
  insufficient_scope: 403,
  not_found: 404,
  rate_limited: 429,
  server_error: 500,
  temporarily_unavailable: 503,
};

/**
 * The one error type: grants, stores' callers and routes throw it, and the one
 * error handler turns it into an RFC-shaped JSON body or an error page.
 */
/**
 * What the HTML error page may add to code and description: its heading, the
 * value that was wrong (shown escaped), and where to go back to (the app's
 * website when the app is known; latch's home page otherwise).
 */
export interface ErrorPageHints {
  title?: string;
  shown?: { label: string; value: string };
  back?: { href: string; label: string };
}

export class OAuthError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly page: ErrorPageHints;
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    options: { status?: number; headers?: Record<string, string>; page?: ErrorPageHints } = {},
  ) {
    super(`${code}: ${description}`);
    this.status = options.status ?? DEFAULT_STATUS[code] ?? 400;
    this.headers = options.headers ?? {};
    this.page = options.page ?? {};
  }

  /**
   * RFC 6749 §5.2's body. `unauthorized` (a request that sent no credentials
   * at all) carries no error code, as RFC 6750 §3.1 asks of its challenge.
   */
  toJSON(): { error?: string; error_description: string } {
    if (this.code === 'unauthorized') return { error_description: this.description };
    return { error: this.code, error_description: this.description };
  }
}

export const isOAuthError = (e: unknown): e is OAuthError => e instanceof OAuthError;
