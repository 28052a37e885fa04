/**
 * Authentication and authorisation: credentials from `PAGEFS_USERS` / `PAGEFS_USERS_FILE`
 * (see `docs/auth.md`), the {@linkcode Authenticator}, the Hono middleware
 * {@linkcode requireAuth}, and the startup rule {@linkcode checkExposure}.
 *
 * @module
 */

export {
  constantTimeEqual,
  DEFAULT_ITERATIONS,
  generateToken,
  hashPassword,
  hashToken,
  verifyPassword,
} from "./hash.ts";
export {
  type Access,
  AuthConfigError,
  type Credentials,
  loadCredentials,
  parseCredentials,
  type TokenEntry,
  type UserEntry,
} from "./users.ts";
export {
  allows,
  ANONYMOUS,
  type AuthenticateOptions,
  Authenticator,
  type AuthenticatorOptions,
  type Principal,
  principalId,
  READ_METHODS,
} from "./verify.ts";
export { type AuthEnv, requireAuth, type RequireAuthOptions } from "./middleware.ts";
export { checkExposure, isLoopback } from "./exposure.ts";
export {
  AuthBusy,
  type BackoffOptions,
  FailureBackoff,
  PasswordGate,
  type PasswordGateOptions,
} from "./password_gate.ts";
export { type AuthFailure, AuthMetrics } from "./metrics.ts";
export {
  base64url,
  cookieValue,
  CSRF_HEADER,
  fromBase64url,
  SECURE_SESSION_COOKIE,
  type Session,
  SESSION_COOKIE,
  SESSION_TTL_SECONDS,
  Sessions,
  type SessionsOptions,
  Signer,
} from "./session.ts";
