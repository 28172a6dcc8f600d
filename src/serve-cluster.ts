import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import { PrimaryMetricsAggregator } from './platform/telemetry/cluster-metrics.js';
import { createLogger } from './platform/telemetry/logger.js';

/**
 * The primary of `rampart serve` with RAMPART_WORKERS > 1 (docs/decisions/007-cluster-workers.md).
 * It opens no database and serves no HTTP: it forks the workers (each runs the ordinary serve
 * path; node:cluster shares the listening socket), replaces one that dies, answers their
 * metrics scrapes with the group's totals, and on SIGTERM/SIGINT stops them all.
 */

/** What a worker sends once it is listening; until then it is starting, not serving. */
export const SERVING_MESSAGE = { type: 'rampart:serving' } as const;

/** Consecutive workers that die before serving, after which the primary gives up. */
const MAX_START_FAILURES = 5;
/** How long shutdown may take beyond SHUTDOWN_TIMEOUT_MS (closing pools, flushing logs). */
const SHUTDOWN_MARGIN_MS = 10_000;

function isServingMessage(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === SERVING_MESSAGE.type
  );
}

/** Runs the cluster primary until the group stops; exits the process. */
export function superviseWorkers(cfg: Config): void {
  const logger = createLogger({ level: cfg.LOG_LEVEL, secretValues: cfg.secretValues }).child({
    role: 'primary',
    pid: process.pid,
  });
  /** Forked and not yet exited (cluster.workers may hold a worker a little past its exit). */
  const live = new Map<number, Worker>();
  const serving = new Map<number, Worker>();
  const metrics = new PrimaryMetricsAggregator(() => serving.values());
  let startFailures = 0;
  let stopping = false;
  let exitCode = 0;
  const restarts = new Set<NodeJS.Timeout>();

  const fork = (): void => {
    const worker = cluster.fork();
    live.set(worker.id, worker);
    logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker started');
  };

  const finish = (): void => {
    logger.info({ exitCode }, 'stopped');
    logger.flush();
    process.exit(exitCode);
  };

  /** Stops every worker (SIGTERM: each drains within SHUTDOWN_TIMEOUT_MS) and exits once all have. */
  const stopAll = (reason: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const t of restarts) clearTimeout(t);
    logger.info({ reason, workers: live.size }, 'stopping workers');
    // Always SIGTERM, whatever the primary got: on Ctrl-C the terminal has already sent SIGINT
    // to every worker, and a second SIGINT would find its one-shot handler used and kill it.
    for (const w of live.values()) w.process.kill('SIGTERM');
    const force = setTimeout(() => {
      logger.error('workers did not stop in time: killing them');
      exitCode = 1;
      for (const w of live.values()) w.process.kill('SIGKILL');
    }, cfg.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_MARGIN_MS);
    force.unref();
    if (live.size === 0) finish();
  };

  cluster.on('message', (worker, message) => {
    if (isServingMessage(message)) {
      serving.set(worker.id, worker);
      startFailures = 0;
      logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker serving');
    } else {
      metrics.onMessage(worker, message);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker.id);
    const wasServing = serving.delete(worker.id);
    metrics.peerGone(worker.id);
    if (stopping) {
      // A worker still starting when SIGTERM came has no handler yet and dies of the signal.
      if (code !== 0 && signal !== 'SIGTERM') exitCode = Math.max(exitCode, 1);
      if (live.size === 0) finish();
      return;
    }
    const fields = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (!wasServing) {
      // Exit code 2 is a configuration error (see main.ts): a replacement would fail the same way.
      if (code === 2) {
        process.stderr.write('rampart: a worker stopped on a configuration error; giving up\n');
        return stopAll('configuration error in a worker', 2);
      }
      startFailures += 1;
      if (startFailures >= MAX_START_FAILURES) {
        logger.error(fields, 'workers keep exiting during start-up: giving up');
        process.stderr.write(
          `rampart: ${startFailures} workers in a row exited during start-up (last: ${signal ?? `exit code ${code}`}); giving up\n`,
        );
        return stopAll('workers keep failing at start-up', 1);
      }
    }
    // Immediately after a worker that had been serving; with a doubling delay while they keep
    // dying at start-up (an unreachable database), so the primary does not spin.
    const delayMs = startFailures === 0 ? 0 : Math.min(250 * 2 ** (startFailures - 1), 5000);
    logger.warn({ ...fields, restartInMs: delayMs }, 'worker exited unexpectedly: replacing it');
    const t = setTimeout(() => {
      restarts.delete(t);
      if (!stopping) fork();
    }, delayMs);
    restarts.add(t);
  });

  process.once('SIGTERM', () => stopAll('SIGTERM', 0));
  process.once('SIGINT', () => stopAll('SIGINT', 0));

  logger.info({ workers: cfg.RAMPART_WORKERS }, 'rampart cluster primary starting workers');
  for (let i = 0; i < cfg.RAMPART_WORKERS; i++) fork();
}
