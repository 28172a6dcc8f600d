/** An API error, with the readable message of its problem+json (or OpenAI-style) body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && key in o
    ? (o as Record<string, unknown>)[key]
    : undefined;
}

/** The message a person should read for an error body: problem `detail`, or `error.message`. */
export function problemOf(status: number, body: unknown): ApiError {
  const detail = field(body, 'detail');
  const nested = field(body, 'error');
  const message =
    typeof detail === 'string'
      ? detail
      : typeof field(nested, 'message') === 'string'
        ? String(field(nested, 'message'))
        : `The server answered ${status}.`;
  const code = field(body, 'code') ?? field(nested, 'code');
  return new ApiError(status, typeof code === 'string' ? code : 'error', message);
}

/** The data of an openapi-fetch result, or its error thrown as an ApiError. */
export async function must<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw problemOf(response.status, error);
  if (data === undefined && response.status !== 204)
    throw new ApiError(response.status, 'empty', 'The server sent no body.');
  // A 204 has no body: callers of such routes ignore the value.
  return data as T;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
