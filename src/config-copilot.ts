import { int, type SettingDef } from './config-schema.js';

/** Settings of the copilot (agents, runs, tools). */
export const copilotSettings = {
  COPILOT_MAX_CONCURRENT_RUNS_PER_TENANT: {
    schema: int(1, 100_000).default(16),
    description:
      'Copilot bulkhead: most runs one tenant may have queued or running at once (runs awaiting approval do not count); over it, starting a run answers 429.',
    defaultText: '16',
  },
  COPILOT_MODEL_TIMEOUT_MS: {
    schema: int(1000, 3_600_000).default(120_000),
    description: 'Copilot: longest wait for one model call of a run.',
    defaultText: '120000',
  },
  COPILOT_RUN_LEASE_MS: {
    schema: int(1000, 3_600_000).default(60_000),
    description:
      'Copilot: how long a run stays with the job driving it without a sign of life (each step renews it); a worker that died mid-run is replaced after its job lease (QUEUE_LEASE_MS).',
    defaultText: '60000',
  },
  COPILOT_RUN_MAX_ATTEMPTS: {
    schema: int(1, 100).default(8),
    description:
      "Copilot: attempts of a run's job (each resumes from the event log) before the run fails.",
    defaultText: '8',
  },
  COPILOT_REALTIME_QUEUE_MAX: {
    schema: int(4, 100_000).default(256),
    description:
      'Realtime (/v1/realtime): frames one WebSocket connection may have waiting to be sent. Under backpressure token deltas are dropped oldest-first; when the queue is full of state events the connection is closed with 1013 and the client resumes from its last sequence number. Also the token deltas an SSE stream of run events (`deltas=true`) holds for a slow reader.',
    defaultText: '256',
  },
  COPILOT_REALTIME_BUFFER_BYTES: {
    schema: int(1, 64 * 1024 * 1024).default(1024 * 1024),
    description:
      'Realtime (/v1/realtime): bytes a WebSocket may hold unsent (the client not reading) before frames wait in its bounded queue.',
    defaultText: '1048576',
  },
  COPILOT_REALTIME_MAX_SUBSCRIPTIONS: {
    schema: int(1, 10_000).default(100),
    description: 'Realtime (/v1/realtime): runs one WebSocket connection may follow at once.',
    defaultText: '100',
  },
  COPILOT_STREAM_POLL_MS: {
    schema: int(50, 60_000).default(1000),
    description:
      "Copilot: how often a run's event stream re-reads the log when no notification arrived (notifications are in-process, or over Redis with REDIS_URL).",
    defaultText: '1000',
  },
  COPILOT_TOOL_RETRY_BASE_MS: {
    schema: int(1, 60_000).default(200),
    description:
      'Copilot: first retry delay of a failing HTTP action (exponential backoff with full jitter, up to the tool’s `retries`).',
    defaultText: '200',
  },
} satisfies Record<string, SettingDef>;
