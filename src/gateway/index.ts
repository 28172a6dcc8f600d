import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { GatewayService } from './invoke-service.js';
import { gatewayManageRoutes } from './manage-routes.js';
import { gatewayOpenAIRoutes } from './openai-routes.js';
import { ProviderService } from './providers-service.js';
import { RoutingService } from './routing-service.js';
import { UpstreamClient } from './upstream.js';
import { UsageRecorder } from './usage.js';

export interface Gateway {
  providers: ProviderService;
  routing: RoutingService;
  invoke: GatewayService;
  usage: UsageRecorder;
  routes: AnyRoute[];
  /** Waits for pending usage writes and closes upstream connections. */
  close(): Promise<void>;
}

/** Builds the gateway feature. Without a keyring, provider credentials cannot be stored (503). */
export function createGateway(deps: {
  db: Database;
  logger: Logger;
  config: Pick<
    Config,
    'GATEWAY_CONNECT_TIMEOUT_MS' | 'GATEWAY_FIRST_BYTE_TIMEOUT_MS' | 'GATEWAY_IDLE_TIMEOUT_MS'
  >;
  keyring: Keyring | undefined;
}): Gateway {
  const providers = new ProviderService(deps.db, deps.keyring);
  const routing = new RoutingService(deps.db);
  const usage = new UsageRecorder(deps.db, deps.logger);
  const upstream = new UpstreamClient({
    connectMs: deps.config.GATEWAY_CONNECT_TIMEOUT_MS,
    firstByteMs: deps.config.GATEWAY_FIRST_BYTE_TIMEOUT_MS,
    idleMs: deps.config.GATEWAY_IDLE_TIMEOUT_MS,
  });
  const invoke = new GatewayService({
    db: deps.db,
    providers,
    upstream,
    usage,
    logger: deps.logger,
  });
  return {
    providers,
    routing,
    invoke,
    usage,
    routes: [...gatewayManageRoutes({ providers, routing }), ...gatewayOpenAIRoutes(invoke)],
    async close() {
      await usage.flush();
      await upstream.close();
    },
  };
}
