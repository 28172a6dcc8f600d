import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import { OutboundHttp } from '../platform/net/outbound-http.js';
import type { JobHandler } from '../platform/queue/queue.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { WebhookDeliverer } from './deliver.js';
import { DELIVER_JOB } from './outbox.js';
import { webhookRoutes } from './routes.js';
import { WebhookService } from './service.js';

export {
  DELIVER_JOB,
  PING_EVENT,
  WEBHOOK_EVENTS,
  recordWebhookEvent,
  type WebhookEvent,
} from './outbox.js';

export interface WebhookDeps {
  db: Database;
  config: Config;
  keyring: Keyring | undefined;
  logger?: Logger | undefined;
}

export interface Webhooks {
  routes: AnyRoute[];
  /** The delivery job a worker registers (in `serve` itself with the embedded database). */
  jobs: Record<string, JobHandler>;
  /** Closes the delivery connections (after the queue running the jobs has stopped). */
  close(): Promise<void>;
}

/** Builds the webhooks feature: its routes and the job that delivers the outbox. */
export function createWebhooks(deps: WebhookDeps): Webhooks {
  const { config } = deps;
  const allowPrivate = config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES;
  // No redirects: a receiver answers where it was registered (a 3xx is a failed attempt).
  const http = new OutboundHttp({ allowPrivate, maxRedirects: 0, maxBodyBytes: 4096 });
  const deliverer = new WebhookDeliverer({
    db: deps.db,
    http,
    keyring: deps.keyring,
    logger: deps.logger,
    settings: {
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
      retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: config.WEBHOOK_RETRY_MAX_MS,
    },
  });
  return {
    routes: webhookRoutes(new WebhookService(deps.db, deps.keyring, { allowPrivate })),
    jobs: { [DELIVER_JOB]: deliverer.handler() },
    close: () => http.close(),
  };
}
