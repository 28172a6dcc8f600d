import { AppError, UpstreamFailed } from '../platform/http/errors.js';

/**
 * An upstream's failure (unreachable, timing out, answering an error) as opposed to the
 * gateway refusing the call for the tenant (unknown alias, allow-list, rate limit, budget),
 * which the caller must see as it is.
 */
export function isUpstreamFailure(err: unknown): err is AppError {
  return (
    err instanceof UpstreamFailed || (err instanceof AppError && err.code.startsWith('upstream_'))
  );
}
