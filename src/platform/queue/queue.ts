import type { Logger } from 'pino';
import type { Database, TenantTx } from '../db/database.js';
import type { QueueMetrics } from './metrics.js';
import { one } from '../checked.js';

/**
 * The durable job queue: a `jobs` table in the same database as the rows jobs process
 * (docs/decisions/005-job-queue.md). Enqueueing is an INSERT in the caller's tenant
 * transaction, so a job exists exactly when the work it describes was committed. Workers claim
 * with FOR UPDATE SKIP LOCKED under a lease; an attempt that dies is re-claimed when its lease
 * expires, so handlers must be idempotent.
 */

export const JOBS_CHANNEL = 'rampart_jobs';

export interface EnqueueSpec {
  kind: string;
  payload: Record<string, unknown>;
  /** Attempts before the job goes dead (default: the queue's configured maximum, 5). */
  maxAttempts?: number;
  /** Earliest start; default now. */
  runAt?: Date;
}

/** Enqueues a job for tx's tenant, in tx: it commits or rolls back with the caller's work. */
export async function enqueueJob(tx: TenantTx, spec: EnqueueSpec): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO jobs (tenant_id, kind, payload, max_attempts, run_at)
     VALUES ($1, $2, $3::jsonb, $4, coalesce($5::timestamptz, now())) RETURNING id`,
    [
      tx.tenantId,
      spec.kind,
      JSON.stringify(spec.payload),
      spec.maxAttempts ?? 5,
      spec.runAt ?? null,
    ],
  );
  // NOTIFY is transactional: idle workers wake only if the job commits.
  await tx.query(`SELECT pg_notify($1, $2)`, [JOBS_CHANNEL, spec.kind]);
  return one(rows).id;
}

/** A claimed attempt of a job, as a handler sees it. */
export interface Job {
  id: string;
  tenantId: string;
  kind: string;
  payload: unknown;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
}

export interface JobHandler {
  /** Does the work; throwing fails the attempt (retried with backoff until it goes dead). */
  run(job: Job): Promise<void>;
  /** Called once when the job goes dead, e.g. to mark the record it was processing as failed. */
  onDead?(job: Job, error: string): Promise<void>;
  /** Releases what the handler holds (e.g. worker threads) once the queue has stopped. */
  close?(): Promise<void>;
}

export interface QueueOptions {
  /** Milliseconds between polls when no notification arrives. */
  pollIntervalMs: number;
  /** Jobs run at once by this worker. */
  concurrency: number;
  /** How long a claim is held before another worker may take the job over; renewed while running. */
  leaseMs: number;
  /** Retry delay after attempt n is min(retryMaxMs, retryBaseMs * 2^(n-1)), +/- jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Fraction of random spread applied to each retry delay (0 = exact). */
  retryJitter?: number;
}

/** Delay before retrying after the given (1-based) failed attempt. */
export function retryDelayMs(
  attempt: number,
  o: Pick<QueueOptions, 'retryBaseMs' | 'retryMaxMs' | 'retryJitter'>,
  random: () => number = Math.random,
): number {
  const exact = Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = o.retryJitter ?? 0;
  if (jitter <= 0) return Math.round(exact);
  return Math.max(0, Math.round(exact * (1 + jitter * (2 * random() - 1))));
}

interface ClaimedRow {
  id: string;
  tenant_id: string;
  kind: string;
  payload: unknown;
  attempts: number;
  max_attempts: number;
}

export interface JobOutcome {
  job: Job;
  state: 'completed' | 'queued' | 'dead' | 'lost';
  error?: string;
}

/** A worker: claims due jobs of the registered kinds and runs their handlers. */
export class JobQueue {
  readonly #handlers = new Map<string, JobHandler>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #running = false;
  #polling = false;
  #pollAgain = false;

  constructor(
    private readonly db: Database,
    private readonly opts: QueueOptions,
    private readonly logger?: Logger,
    private readonly metrics?: QueueMetrics,
  ) {}

  register(kind: string, handler: JobHandler): this {
    this.#handlers.set(kind, handler);
    return this;
  }

  get kinds(): string[] {
    return [...this.#handlers.keys()];
  }

  /** Starts polling and listening for new jobs. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#unlisten = await this.db.listen(
      JOBS_CHANNEL,
      () => this.#wake(),
      () => this.#wake(),
    );
    const tick = (): void => {
      this.#wake();
      if (this.#running) this.#timer = setTimeout(tick, this.opts.pollIntervalMs);
    };
    tick();
  }

  /** Stops claiming; waits up to timeoutMs for running jobs (unfinished ones are re-claimed after their lease). */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#unlisten?.().catch(() => undefined);
    this.#unlisten = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await Promise.all(
      [...this.#handlers.values()].map((h) =>
        h
          .close?.()
          .catch((err: unknown) => this.logger?.warn({ err }, 'closing a job handler failed')),
      ),
    );
  }

  #wake(): void {
    if (!this.#running) return;
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = true;
    void this.#fill()
      .catch((err: unknown) => this.logger?.warn({ err }, 'claiming jobs failed'))
      .finally(() => {
        this.#polling = false;
        if (this.#pollAgain) {
          this.#pollAgain = false;
          this.#wake();
        }
      });
  }

  async #fill(): Promise<void> {
    const free = this.opts.concurrency - this.#inFlight.size;
    if (free <= 0 || this.#handlers.size === 0) return;
    const jobs = await this.claim(free);
    for (const job of jobs) {
      const p = this.execute(job).finally(() => {
        this.#inFlight.delete(p);
        this.#wake();
      });
      this.#inFlight.add(p);
    }
  }

  /** Claims up to `limit` due jobs of the registered kinds. */
  async claim(limit: number): Promise<Job[]> {
    const { rows } = await this.db.withOperator((tx) =>
      tx.query<ClaimedRow>(`SELECT * FROM rampart_claim_jobs($1, $2, $3)`, [
        this.kinds,
        limit,
        this.opts.leaseMs,
      ]),
    );
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      kind: r.kind,
      payload: r.payload,
      attempt: r.attempts,
      maxAttempts: r.max_attempts,
    }));
  }

  /** Claims and runs due jobs until none is left; for tests and one-shot tools. */
  async drain(maxJobs = 1000): Promise<JobOutcome[]> {
    const outcomes: JobOutcome[] = [];
    while (outcomes.length < maxJobs) {
      const jobs = await this.claim(Math.max(1, this.opts.concurrency));
      if (jobs.length === 0) break;
      outcomes.push(...(await Promise.all(jobs.map((j) => this.execute(j)))));
    }
    return outcomes;
  }

  /** Runs one claimed attempt and settles it; never throws (a failing handler cannot stop the worker). */
  async execute(job: Job): Promise<JobOutcome> {
    const handler = this.#handlers.get(job.kind);
    const heartbeat = setInterval(
      () => {
        void this.db
          .withOperator((tx) =>
            tx.query(`SELECT rampart_extend_job_lease($1, $2, $3)`, [
              job.id,
              job.attempt,
              this.opts.leaseMs,
            ]),
          )
          .catch((err: unknown) =>
            this.logger?.warn({ err, jobId: job.id }, 'lease renewal failed'),
          );
      },
      Math.max(1000, Math.floor(this.opts.leaseMs / 3)),
    );
    heartbeat.unref();
    try {
      if (!handler) throw new Error(`no handler registered for job kind '${job.kind}'`);
      // Re-claimed after the worker running its last attempt died: settle it as dead.
      if (job.attempt > job.maxAttempts)
        throw new Error('the worker running the last attempt stopped before finishing it');
      await handler.run(job);
    } catch (err) {
      clearInterval(heartbeat);
      return this.#settleFailure(job, handler, err);
    }
    clearInterval(heartbeat);
    try {
      const { rows } = await this.db.withOperator((tx) =>
        tx.query<{ ok: boolean }>(`SELECT rampart_complete_job($1, $2) AS ok`, [
          job.id,
          job.attempt,
        ]),
      );
      return { job, state: rows[0]?.ok ? 'completed' : 'lost' };
    } catch (err) {
      this.logger?.error({ err, jobId: job.id }, 'recording a completed job failed');
      return { job, state: 'lost', error: message(err) };
    }
  }

  async #settleFailure(
    job: Job,
    handler: JobHandler | undefined,
    err: unknown,
  ): Promise<JobOutcome> {
    const error = message(err);
    const delay = retryDelayMs(job.attempt, this.opts);
    try {
      const { rows } = await this.db.withOperator((tx) =>
        tx.query<{ state: string | null }>(`SELECT rampart_fail_job($1, $2, $3, $4) AS state`, [
          job.id,
          job.attempt,
          error,
          delay,
        ]),
      );
      const state = rows[0]?.state;
      const outcome: JobOutcome['state'] =
        state === 'dead' ? 'dead' : state === 'queued' ? 'queued' : 'lost';
      if (outcome !== 'lost')
        this.metrics?.jobFailed(job.kind, outcome === 'dead' ? 'dead' : 'retry');
      this.logger?.warn(
        { jobId: job.id, kind: job.kind, attempt: job.attempt, state: outcome, error },
        outcome === 'dead' ? 'job failed for the last time' : 'job attempt failed',
      );
      if (outcome === 'dead' && handler?.onDead) {
        await handler
          .onDead(job, error)
          .catch((e: unknown) =>
            this.logger?.error({ err: e, jobId: job.id }, 'dead-job hook failed'),
          );
      }
      return { job, state: outcome, error };
    } catch (e) {
      this.logger?.error({ err: e, jobId: job.id }, 'recording a failed job failed');
      return { job, state: 'lost', error };
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
