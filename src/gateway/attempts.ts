import { AppError, InvalidInput, UpstreamFailed } from '../platform/http/errors.js';
import {
  UnsupportedRequest,
  type ProviderAdapter,
  type ProviderConfig,
  type UpstreamCall,
} from './providers/types.js';
import { UpstreamUnavailable, type UpstreamClient, type UpstreamResponse } from './upstream.js';

/** One target to try: provider name, upstream model, its adapter and (lazily) its decrypted config. */
export interface Attempt {
  provider: string;
  model: string;
  readonly config: ProviderConfig;
  adapter: ProviderAdapter;
}

interface Failure {
  retryAfter?: string | undefined;
  status: number;
  message: string;
  kind: 'status' | 'timeout' | 'connect';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Tries each attempt until one answers 2xx. A 4xx other than 429 is the request's fault: it is
 * returned to the client at once (401/403 mean our stored credential is wrong: a 502).
 */
export async function callFirstAvailable(
  upstream: UpstreamClient,
  attempts: Attempt[],
  build: (a: Attempt) => UpstreamCall,
  signal: AbortSignal,
  onFail: (a: Attempt | undefined, status: number) => void,
): Promise<{ attempt: Attempt; res: UpstreamResponse; upstreamStart: number }> {
  let last: Failure | undefined;
  let lastAttempt: Attempt | undefined;
  for (const attempt of attempts) {
    lastAttempt = attempt;
    let call: UpstreamCall;
    try {
      call = build(attempt);
    } catch (err) {
      if (err instanceof UnsupportedRequest) {
        onFail(attempt, 400);
        throw new InvalidInput(`body.${err.param}: ${err.message}`, {
          errors: [{ field: `body.${err.param}`, message: err.message }],
        });
      }
      throw err;
    }
    const upstreamStart = performance.now();
    let res: UpstreamResponse;
    try {
      res = await upstream.post(call, signal);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailable)) throw err;
      last = {
        status: err.kind === 'timeout' ? 504 : 502,
        message: err.message,
        kind: err.kind === 'timeout' ? 'timeout' : 'connect',
      };
      continue;
    }
    if (res.status >= 200 && res.status < 300) return { attempt, res, upstreamStart };
    const text = await res.body.text().catch(() => '');
    const message =
      attempt.adapter.errorMessage(safeJson(text)) ?? `upstream answered ${res.status}`;
    if (res.status === 429 || res.status >= 500) {
      const retryAfter = res.headers['retry-after'];
      last = {
        status: res.status,
        message,
        kind: 'status',
        retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
      };
      continue;
    }
    onFail(attempt, res.status === 401 || res.status === 403 ? 502 : res.status);
    if (res.status === 401 || res.status === 403)
      throw new UpstreamFailed(
        `Provider '${attempt.provider}' rejected the configured credential.`,
        502,
        'upstream_auth_failed',
      );
    throw new AppError(
      res.status,
      'upstream_rejected',
      `Provider '${attempt.provider}': ${message}`,
    );
  }
  const status = last?.status === 429 ? 429 : last?.kind === 'timeout' ? 504 : 502;
  onFail(lastAttempt, status);
  if (status === 429)
    throw new AppError(
      429,
      'upstream_rate_limited',
      `Every upstream target is rate limited; the last (${lastAttempt?.provider ?? 'none'}) said: ${last?.message ?? ''}`,
      {},
      {
        'retry-after': last?.retryAfter && /^\d+$/.test(last.retryAfter) ? last.retryAfter : '1',
      },
    );
  throw new UpstreamFailed(
    `Every upstream target failed; the last (${lastAttempt?.provider ?? 'none'}) said: ${last?.message ?? 'no target'}`,
    status,
    status === 504 ? 'upstream_timeout' : 'upstream_unavailable',
  );
}
