import type { QuotaGate } from '../platform/quota.js';
import type { Config } from '../config.js';
import type { ModelCalls } from '../gateway/index.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import type { Principal } from '../platform/http/principal.js';
import { AnswerService, AskBody, type AnswerObserver, type AnswerRecorder } from './answer.js';
import { recordRequest } from '../governance/requests-service.js';
import { knowledgeMetrics, registerDocumentMetrics } from './metrics.js';
import { knowledgeRoutes } from './routes.js';
import { SearchBody, SearchService } from './search.js';
import { DocumentService } from './service.js';
import { KnowledgeSettingsService } from './settings.js';
import { knowledgeModels } from './worker.js';

export { documentGroupRemoval } from './group-removal.js';
export { registerUploads } from './uploads.js';
export { registerKnowledgeJobs, type KnowledgeJobDeps } from './worker.js';
export type { DocumentService } from './service.js';
export type { AnswerObserver } from './answer.js';
export type { SearchService } from './search.js';
export type { AnswerService } from './answer.js';
export { SearchBody } from './search.js';
export { AskBody } from './answer.js';
export { DocumentIdParams, DocumentListQuery } from './schemas.js';

export interface KnowledgeDeps {
  db: Database;
  /** Plans' quotas (documents, storage). */
  quotas?: QuotaGate | undefined;
  config: Config;
  metrics: Pick<Metrics, 'registry'>;
  /** The gateway's in-process entry: every model call is routed and metered to the tenant. */
  calls: ModelCalls;
  /** Told of every /v1/ask answer (evals: feedback ownership, unsupported share, drift). */
  onAnswer?: AnswerObserver | undefined;
}

export interface Knowledge {
  documents: DocumentService;
  /** The services behind /v1/search and /v1/ask (the MCP server's tools call them too). */
  search: SearchService;
  answers: AnswerService;
  routes: AnyRoute[];
}

/**
 * Search and answers for other features (the copilot's knowledge.search / knowledge.ask tools):
 * each runs as the principal it is given, under RLS, exactly like /v1/search and /v1/ask.
 */
export interface KnowledgeTools {
  search(
    caller: Principal,
    body: { query: string; k?: number | undefined },
    requestId: string,
    /** The data classes the model reading the result may receive (decision 020); null: any. */
    allowedClasses?: readonly string[] | null,
  ): Promise<{
    data: { chunkId: string; documentId: string; title: string; text: string; score: number }[];
  }>;
  ask(
    caller: Principal,
    body: { question: string; k?: number | undefined },
    requestId: string,
    allowedClasses?: readonly string[] | null,
  ): Promise<{
    answer: string;
    citations: { chunkId: string; documentId: string; title: string; snippet: string }[];
  }>;
}

/**
 * The tenant's embedder as the knowledge hub picks it (its embedding alias through the gateway,
 * else the platform default, else the local hashed embedder), for other features that embed
 * text (text-to-SQL's schema linking). Every call goes through `calls`, metered to the caller.
 */
export function createEmbedders(deps: Omit<KnowledgeDeps, 'metrics'>): {
  forCaller(
    caller: Principal,
    requestId: string,
  ): Promise<{ readonly model: string; embed(texts: readonly string[]): Promise<number[][]> }>;
} {
  return knowledgeModels(deps.db, deps.config, deps.calls);
}

/** Every answer's request record, in its own tenant transaction (governance: reconstruction). */
function requestRecorder(db: Database): AnswerRecorder {
  return (principal, record) => db.withTenant(principal, (tx) => recordRequest(tx, record));
}

/** Builds the knowledge hub's search and answers for in-process callers (a worker has no routes). */
export function createKnowledgeTools(deps: Omit<KnowledgeDeps, 'metrics'>): KnowledgeTools {
  const search = new SearchService(deps.db, knowledgeModels(deps.db, deps.config, deps.calls));
  const answers = new AnswerService(
    search,
    knowledgeModels(deps.db, deps.config, deps.calls).chat,
    undefined,
    requestRecorder(deps.db),
  );
  return {
    search: (caller, body, requestId, allowedClasses) =>
      search.search(
        caller,
        SearchBody.parse({ ...body, mode: 'hybrid' }),
        requestId,
        allowedClasses ?? null,
      ),
    ask: (caller, body, requestId, allowedClasses) =>
      answers.ask(caller, AskBody.parse({ ...body, mode: 'auto' }), requestId, allowedClasses),
  };
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
    quotas: deps.quotas,
  });
  // Every answer is reported to onAnswer (evals: feedback and drift), MCP's ask included.
  const answers = new AnswerService(search, models.chat, deps.onAnswer, requestRecorder(db));
  return {
    documents,
    search,
    answers,
    routes: knowledgeRoutes(documents, {
      maxBytes: config.DOCUMENT_MAX_BYTES,
      search,
      answers,
      settings: new KnowledgeSettingsService(db, { piiMasking: config.PII_MASKING }),
    }),
  };
}
