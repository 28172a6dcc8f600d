import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import { GroupService, type GroupServiceDeps } from './groups-service.js';
import { groupRoutes } from './groups-routes.js';
import { UserService } from './users-service.js';
import { userRoutes } from './users-routes.js';

/** Users and groups of a tenant: the routes and the services behind them. */
export function peopleRoutes(db: Database, groups: GroupServiceDeps = {}): AnyRoute[] {
  return [...userRoutes(new UserService(db)), ...groupRoutes(new GroupService(db, groups))];
}
