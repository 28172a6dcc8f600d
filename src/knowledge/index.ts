import type { Config } from '../config.js';
import type { ModelCalls } from '../gateway/index.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import { AnswerService } from './answer.js';
import { knowledgeMetrics, registerDocumentMetrics } from './metrics.js';
import { knowledgeRoutes } from './routes.js';
import { SearchService } from './search.js';
import { DocumentService } from './service.js';
import { KnowledgeSettingsService } from './settings.js';
import { knowledgeModels } from './worker.js';

export { documentGroupRemoval } from './group-removal.js';
export { registerUploads } from './uploads.js';
export { registerKnowledgeJobs, type KnowledgeJobDeps } from './worker.js';
export type { DocumentService } from './service.js';

export interface KnowledgeDeps {
  db: Database;
  config: Config;
  metrics: Pick<Metrics, 'registry'>;
  /** The gateway's in-process entry: every model call is routed and metered to the tenant. */
  calls: ModelCalls;
}

export interface Knowledge {
  documents: DocumentService;
  routes: AnyRoute[];
}

/** Builds the knowledge hub's HTTP side (its background jobs register through registerKnowledgeJobs, from src/jobs.ts). */
export function createKnowledge(deps: KnowledgeDeps): Knowledge {
  const { config, db } = deps;
  registerDocumentMetrics(deps.metrics.registry, db);
  const models = knowledgeModels(db, config, deps.calls);
  const search = new SearchService(db, models, {
    metrics: knowledgeMetrics(deps.metrics.registry),
  });
  const documents = new DocumentService(db, {
    maxBytes: config.DOCUMENT_MAX_BYTES,
    maxAttempts: config.QUEUE_MAX_ATTEMPTS,
  });
  return {
    documents,
    routes: knowledgeRoutes(documents, {
      maxBytes: config.DOCUMENT_MAX_BYTES,
      search,
      answers: new AnswerService(search, models.chat),
      settings: new KnowledgeSettingsService(db, { piiMasking: config.PII_MASKING }),
    }),
  };
}
