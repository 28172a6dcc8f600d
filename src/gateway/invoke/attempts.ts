import { AppError, InvalidInput, UpstreamFailed } from '../../platform/http/errors.js';
import {
  UnsupportedRequest,
  type ProviderAdapter,
  type ProviderConfig,
  type UpstreamCall,
} from '../providers/types.js';
import {
  BrokenCircuitError,
  TargetFailure,
  retryAfterMs,
  sleep,
  type TargetPolicies,
} from '../resilience/policy.js';
import { UpstreamUnavailable, type UpstreamClient, type UpstreamResponse } from './upstream.js';
import type { RouteCache } from '../config/routing-store.js';
import type { ModelPrice } from '../config/prices.js';
import type { CancelSignal } from './cancel.js';
import type { OutboundPolicy } from './outbound-policy.js';

/** One target to try: provider name, upstream model, its adapter and (lazily) its decrypted config. */
export interface Attempt {
  provider: string;
  model: string;
  readonly config: ProviderConfig;
  adapter: ProviderAdapter;
  /** The route's response-cache setting (routing.ts Step), when the route turns it on. */
  cache?: RouteCache | undefined;
  /** The tenant's price for `model`, else the built-in one; undefined: unpriced. */
  price?: ModelPrice | undefined;
  /** What this target may receive (decision 020); undefined: no restriction. */
  outbound?: OutboundPolicy | undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One call to one target: a 2xx or a non-retryable answer is returned; the rest throw TargetFailure. */
async function callOnce(
  upstream: UpstreamClient,
  attempt: Attempt,
  call: UpstreamCall,
  signal: CancelSignal,
): Promise<UpstreamResponse> {
  let res: UpstreamResponse;
  try {
    res = await upstream.post(call, signal, attempt.config.trusted === true);
  } catch (err) {
    if (!(err instanceof UpstreamUnavailable)) throw err;
    const timeout = err.kind === 'timeout';
    throw new TargetFailure(err.message, timeout ? 504 : 502, timeout ? 'timeout' : 'connect');
  }
  if (res.status !== 429 && res.status < 500) return res;
  const text = await res.body.text().catch(() => '');
  const message = attempt.adapter.errorMessage(safeJson(text)) ?? `upstream answered ${res.status}`;
  const retryAfter = res.headers['retry-after'];
  throw new TargetFailure(
    message,
    res.status,
    'status',
    typeof retryAfter === 'string' ? retryAfter : undefined,
  );
}

/**
 * Tries each target in order until one answers 2xx. Per target: up to `attempts` calls on
 * 429/5xx/connect errors/timeouts, waiting an exponential backoff with full jitter (or the
 * upstream's Retry-After when it is longer; one beyond the cap moves on to the next target),
 * each call through the target's circuit breaker (an open breaker skips the target without
 * contacting it). A 4xx other than 429 is the request's fault: returned to the client at once
 * (401/403 mean our stored credential is wrong: a 502). `onFail` is called exactly once when
 * the request fails here, so usage is metered once whatever the number of upstream calls.
 */
export async function callFirstAvailable(
  upstream: UpstreamClient,
  policies: TargetPolicies,
  tenantId: string,
  attempts: Attempt[],
  build: (a: Attempt) => UpstreamCall,
  signal: CancelSignal,
  onFail: (a: Attempt | undefined, status: number) => void,
): Promise<{ attempt: Attempt; res: UpstreamResponse; upstreamStart: number }> {
  const { settings } = policies;
  let last: TargetFailure | undefined;
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
    const breaker = policies.breaker(tenantId, attempt.provider, attempt.model);
    let backoff = policies.backoff();
    for (let n = 1; n <= settings.attempts; n++) {
      const upstreamStart = performance.now();
      let res: UpstreamResponse;
      try {
        res = await breaker.execute(() => callOnce(upstream, attempt, call, signal));
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          last ??= new TargetFailure(`circuit open for '${attempt.provider}'`, 503, 'connect');
          break; // skip this target without contacting it
        }
        if (!(err instanceof TargetFailure)) {
          if (signal.aborted) onFail(attempt, 499);
          throw err;
        }
        last = err;
        if (n === settings.attempts) break;
        const asked = retryAfterMs(err.retryAfter);
        if (asked !== undefined && asked > settings.maxDelayMs) break; // too long: next target
        const wait = Math.max(backoff.duration, asked ?? 0);
        backoff = backoff.next(undefined);
        try {
          await sleep(wait, signal);
        } catch (abortErr) {
          onFail(attempt, 499);
          throw abortErr;
        }
        continue;
      }
      if (res.status >= 200 && res.status < 300) return { attempt, res, upstreamStart };
      const text = await res.body.text().catch(() => '');
      const message =
        attempt.adapter.errorMessage(safeJson(text)) ?? `upstream answered ${res.status}`;
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
