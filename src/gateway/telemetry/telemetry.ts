import { Gauge, type Registry } from 'prom-client';
import { BoundedLabel, HotCounter, HotHistogram } from '../../platform/telemetry/hot-metrics.js';
import { AppError } from '../../platform/http/errors.js';
import type { Attempt } from '../invoke/attempts.js';
import { builtinPrice, type ModelPrice } from '../config/prices.js';
import type { TargetPolicies } from '../resilience/policy.js';

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

/** The price a request is costed at: the tenant's (when the plan carries it), else the list price. */
export function priceOf(attempt: Attempt): ModelPrice | undefined {
  return attempt.price ?? builtinPrice(attempt.model);
}

/**
 * Which limit turned a request away, from the limiter's typed error. The limiter does not say
 * whether a rate limit was the key's or the tenant's, so rate limits are labelled by what ran
 * out (requests, tokens, concurrency); budgets by whose budget it was.
 */
export function rejectionOf(err: unknown): { reason: string; scope: string } | undefined {
  if (!(err instanceof AppError)) return undefined;
  if (err.code === 'budget_exceeded')
    return { reason: err.code, scope: /\bkey budget\b/.test(err.message) ? 'key' : 'tenant' };
  if (err.code === 'rate_limited') {
    const scope = /concurrent/.test(err.message)
      ? 'concurrency'
      : /for tokens/.test(err.message)
        ? 'tokens'
        : 'requests';
    return { reason: err.code, scope };
  }
  if (err.code === 'model_not_allowed') return { reason: err.code, scope: 'key' };
  return undefined;
}

/**
 * The gateway's Prometheus metrics. Labels: endpoint, alias, provider name and target model,
 * status, cache result — never key ids; the tenant id only on the two per-tenant totals,
 * which the operator's cost-by-tenant panels read. Alias, provider and model are chosen by
 * tenants (their routes and providers) or by the request itself (any name through a '*' route),
 * and tenants are as many as the operator creates, so each of the four has one bound shared by
 * every metric here: the first `labelValuesMax` distinct values keep their name, later ones
 * read `other`. The per-request ones are hot-path metrics (see
 * hot-metrics.ts); the circuit gauge is prom-client's, filled at scrape time.
 */
export class GatewayMetrics {
  readonly requests: HotCounter<'endpoint' | 'alias' | 'provider' | 'model' | 'status' | 'cache'>;
  readonly tokens: HotCounter<'provider' | 'model' | 'type'>;
  readonly cost: HotCounter<'provider' | 'model'>;
  readonly tenantTokens: HotCounter<'tenant' | 'type'>;
  readonly tenantCost: HotCounter<'tenant'>;
  readonly upstreamLatency: HotHistogram<'endpoint' | 'provider' | 'model'>;
  readonly timeToFirstToken: HotHistogram<'provider' | 'model'>;
  readonly overhead: HotHistogram<'endpoint' | 'stream'>;
  readonly rejections: HotCounter<'reason' | 'scope'>;
  readonly piiRedactions: HotCounter<'kind'>;

  constructor(registry: Registry, policies: TargetPolicies, opts: { labelValuesMax: number }) {
    const registers = [registry];
    const alias = new BoundedLabel(opts.labelValuesMax);
    const provider = new BoundedLabel(opts.labelValuesMax);
    const model = new BoundedLabel(opts.labelValuesMax);
    const tenant = new BoundedLabel(opts.labelValuesMax);
    this.requests = new HotCounter({
      name: 'rampart_gateway_requests_total',
      help: 'Gateway requests by endpoint, alias, provider, target model, status and cache result (hit, miss, off).',
      labelNames: ['endpoint', 'alias', 'provider', 'model', 'status', 'cache'],
      registers,
      bounded: { alias, provider, model },
    });
    this.tokens = new HotCounter({
      name: 'rampart_gateway_tokens_total',
      help: 'Tokens metered from upstream answers by type (input, output, cached input); cache hits consume none.',
      labelNames: ['provider', 'model', 'type'],
      registers,
      bounded: { provider, model },
    });
    this.cost = new HotCounter({
      name: 'rampart_gateway_cost_usd_total',
      help: 'Cost of upstream calls in USD at the price the request was costed at.',
      labelNames: ['provider', 'model'],
      registers,
      bounded: { provider, model },
    });
    this.tenantTokens = new HotCounter({
      name: 'rampart_gateway_tenant_tokens_total',
      help: 'Tokens metered from upstream answers by tenant id and type (input, output, cached input).',
      labelNames: ['tenant', 'type'],
      registers,
      bounded: { tenant },
    });
    this.tenantCost = new HotCounter({
      name: 'rampart_gateway_tenant_cost_usd_total',
      help: 'Cost of upstream calls in USD by tenant id (background jobs included).',
      labelNames: ['tenant'],
      registers,
      bounded: { tenant },
    });
    this.upstreamLatency = new HotHistogram({
      name: 'rampart_gateway_upstream_latency_seconds',
      help: 'Duration of the upstream call that answered (to the end of the body or stream).',
      labelNames: ['endpoint', 'provider', 'model'],
      buckets: LATENCY_BUCKETS,
      registers,
      bounded: { provider, model },
    });
    this.timeToFirstToken = new HotHistogram({
      name: 'rampart_gateway_time_to_first_token_seconds',
      help: 'Streams: from the request reaching the gateway to the first chunk sent to the client.',
      labelNames: ['provider', 'model'],
      buckets: LATENCY_BUCKETS,
      registers,
      bounded: { provider, model },
    });
    this.overhead = new HotHistogram({
      name: 'rampart_gateway_overhead_seconds',
      help: 'Time spent in Rampart rather than upstream (the x-rampart-overhead-ms header).',
      labelNames: ['endpoint', 'stream'],
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.rejections = new HotCounter({
      name: 'rampart_gateway_rejections_total',
      help: 'Requests turned away before the upstream call, by reason (rate_limited, budget_exceeded, model_not_allowed) and scope.',
      labelNames: ['reason', 'scope'],
      registers,
    });
    this.piiRedactions = new HotCounter({
      name: 'rampart_gateway_pii_redactions_total',
      help: 'Values masked in prompts before they were sent to a redacting provider, by kind (email, phone, ssn, card, iban).',
      labelNames: ['kind'],
      registers,
    });
    new Gauge({
      name: 'rampart_gateway_circuit_breakers',
      help: 'Upstream circuit breakers (one per tenant and target) by provider, model and state (closed, open, half_open).',
      labelNames: ['provider', 'model', 'state'],
      registers,
      collect() {
        this.reset();
        // inc, not set: several targets can share one `other` series.
        for (const c of policies.circuitCounts())
          this.inc(
            { provider: provider.of(c.provider), model: model.of(c.model), state: c.state },
            c.count,
          );
      },
    });
  }

  /** Counts a request the limits refused; other errors are not rejections. */
  rejected(err: unknown): void {
    const r = rejectionOf(err);
    if (r) this.rejections.inc(r);
  }
}
