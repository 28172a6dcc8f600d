import type { FastifyRequest } from 'fastify';
import { AppError } from '../../platform/http/errors.js';
import { route, type AnyRoute } from '../../platform/http/route.js';
import type { RunEventBus } from '../events.js';
import type { RealtimeMetrics } from '../metrics.js';
import type { RunService } from '../runs-service.js';
import { RealtimeConnection, type RealtimeOptions, type TenantStanding } from './connection.js';

/** 1008 "policy violation": a cookie-authenticated upgrade from a page of another origin. */
const CLOSE_POLICY = 1008;

/**
 * A browser sends cookies with a WebSocket handshake from any page (no CORS preflight), so a
 * session-authenticated upgrade must come from Rampart's own origin, as cookie writes must.
 */
function crossSiteSession(request: FastifyRequest, publicOrigin: string): boolean {
  return request.headers.authorization === undefined && request.headers.origin !== publicOrigin;
}

/** GET /v1/realtime: the WebSocket that streams the events of the runs the caller may see. */
export function realtimeRoute(deps: {
  runs: RunService;
  bus: RunEventBus;
  metrics: RealtimeMetrics;
  options: RealtimeOptions;
  publicOrigin: string;
  tenantStanding?: TenantStanding | undefined;
}): AnyRoute {
  return route({
    method: 'GET',
    url: '/v1/realtime',
    auth: 'tenant',
    permission: 'agents:run',
    summary:
      'WebSocket: subscribe to runs the caller may see and receive their events live (resume with `after`).',
    tags: ['copilot'],
    handler: () => {
      throw new AppError(
        426,
        'upgrade_required',
        'This endpoint speaks WebSocket only.',
        {},
        {
          upgrade: 'websocket',
        },
      );
    },
    websocket: (socket, { principal, request }) => {
      if (crossSiteSession(request, deps.publicOrigin))
        return socket.close(CLOSE_POLICY, 'a session-authenticated socket must be same-origin');
      new RealtimeConnection(socket, principal, deps);
    },
  });
}
