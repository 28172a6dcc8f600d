/**
 * Typed errors with a stable `code`. Services throw these; one handler (problem.ts) maps them
 * to application/problem+json, or to OpenAI's error shape on OpenAI-style routes.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidInput extends AppError {
  constructor(
    message: string,
    extra: { errors?: { field: string; message: string }[] } & Record<string, unknown> = {},
  ) {
    super(400, 'invalid_input', message, extra);
  }
}
export class Unauthorized extends AppError {
  constructor(message = 'Missing or invalid credentials.', code = 'unauthorized') {
    super(401, code, message, {}, { 'www-authenticate': 'Bearer realm="rampart"' });
  }
}
export class Forbidden extends AppError {
  constructor(message: string, code = 'forbidden') {
    super(403, code, message);
  }
}
export class NotFound extends AppError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found.`);
  }
}
export class Conflict extends AppError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}
export class PayloadTooLarge extends AppError {
  constructor(message: string) {
    super(413, 'payload_too_large', message);
  }
}
export class UnsupportedMediaType extends AppError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
  }
}
export class RateLimited extends AppError {
  constructor(message: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(
      429,
      'rate_limited',
      message,
      { retryAfter: retryAfterSeconds },
      { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...headers },
    );
  }
}
export class ServiceUnavailable extends AppError {
  constructor(message: string, code = 'unavailable') {
    super(503, code, message);
  }
}
export class UpstreamFailed extends AppError {
  constructor(message: string, status = 502, code = 'upstream_failed') {
    super(status, code, message);
  }
}
