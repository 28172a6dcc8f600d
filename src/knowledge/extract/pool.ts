import { fork, type ChildProcess } from 'node:child_process';
import type { SourceType } from '../detect.js';
import { ExtractionError, type Extracted, type ExtractionLimits } from './blocks.js';
import { ExtractionReply, type ExtractionRequest } from './protocol.js';

/** Turns a document's bytes into blocks; ExtractionError means the document cannot be read. */
export interface DocumentExtractor {
  extract(type: SourceType, bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted>;
  close(): Promise<void>;
}

export interface ExtractionPoolOptions {
  /** Extraction processes at most; further documents wait for one. */
  processes: number;
  /** V8 heap limit (--max-old-space-size) of each process, in MB. */
  maxHeapMb: number;
  /** Longest extraction, from handing the document to a process to its reply. */
  timeoutMs: number;
  /** An idle process exits after this long, returning its memory (default 30 s). */
  idleMs?: number;
}

const RUNNER = new URL('../../../bin/ts-run.js', import.meta.url);
const ENTRY = new URL('./child.ts', import.meta.url).href;
/** The tail of a process's stderr kept to tell an out-of-memory abort from other deaths. */
const STDERR_TAIL = 4096;

interface Slot {
  child: ChildProcess;
  stderr: string;
  idleTimer?: NodeJS.Timeout | undefined;
}

/**
 * Extraction in separate processes (mammoth and pdf.js are synchronous for long stretches and
 * can build hundreds of MB from a small upload). A worker thread's resourceLimits would be
 * lighter, but on Node 20 a thread reaching its heap limit can still abort the whole process
 * (nodejs/node#47224); a child process with --max-old-space-size takes only itself down. A
 * process that runs out of heap, overruns the timeout, or fails a document is killed, so
 * whatever it allocated is gone with it, and the next document gets a fresh one. The failure
 * reaches the ingestion job as an ExtractionError, which fails the document with that reason.
 */
export class ExtractionPool implements DocumentExtractor {
  readonly #idle: Slot[] = [];
  readonly #waiting: ((slot: Slot) => void)[] = [];
  #live = 0;
  #closed = false;

  constructor(private readonly opts: ExtractionPoolOptions) {}

  /** Processes running now, busy or idle. */
  get processes(): number {
    return this.#live;
  }

  async extract(type: SourceType, bytes: Uint8Array, limits: ExtractionLimits): Promise<Extracted> {
    const slot = await this.#acquire();
    let reusable = false;
    try {
      const reply = await this.#run(slot, { type, bytes, limits });
      if (reply.ok) {
        reusable = true;
        return reply.extracted;
      }
      if (reply.unreadable) throw new ExtractionError(reply.reason);
      throw new Error(`document extraction failed: ${reply.reason}`);
    } finally {
      if (reusable) this.#release(slot);
      else this.#discard(slot);
    }
  }

  /** Stops every idle process and each busy one as it finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const slot of this.#idle.splice(0)) this.#discard(slot);
  }

  #acquire(): Promise<Slot> {
    if (this.#closed) return Promise.reject(new Error('the extraction pool is closed'));
    const idle = this.#idle.pop();
    if (idle) {
      clearTimeout(idle.idleTimer);
      return Promise.resolve(idle);
    }
    if (this.#live < this.opts.processes) return Promise.resolve(this.#spawn());
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #spawn(): Slot {
    this.#live += 1;
    const child = fork(RUNNER, [ENTRY], {
      // Not the parent's Node options (a --max-old-space-size, a loader): the heap is set here
      // and bin/ts-run.js registers the TypeScript hooks.
      execArgv: [`--max-old-space-size=${this.opts.maxHeapMb}`],
      // The document is all the process needs: none of the server's secrets.
      env: {},
      // Structured clone over IPC: the bytes go as a Uint8Array, not as JSON numbers.
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const slot: Slot = { child, stderr: '' };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      slot.stderr = (slot.stderr + s).slice(-STDERR_TAIL);
    });
    // Neither the process nor its channel keeps the server alive; a job waiting on it belongs
    // to a queue that does.
    child.unref();
    child.channel?.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    return slot;
  }

  #release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next) return next(slot);
    if (this.#closed) return this.#discard(slot);
    slot.idleTimer = setTimeout(() => {
      const i = this.#idle.indexOf(slot);
      if (i >= 0) this.#idle.splice(i, 1);
      this.#discard(slot);
    }, this.opts.idleMs ?? 30_000);
    slot.idleTimer.unref();
    this.#idle.push(slot);
  }

  #discard(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    this.#live -= 1;
    slot.child.kill('SIGKILL');
    const next = this.#waiting.shift();
    if (next) next(this.#spawn());
  }

  #run(slot: Slot, request: ExtractionRequest): Promise<ExtractionReply> {
    const { child } = slot;
    const { maxHeapMb, timeoutMs } = this.opts;
    return new Promise((resolve, reject) => {
      // Function declarations: the handlers and cleanup refer to one another, and hoisting
      // makes every one exist before any runs.
      const timer = setTimeout(
        () =>
          fail(
            new ExtractionError(
              `Extraction timed out after ${timeoutMs / 1000} s: the document is too large or too complex.`,
            ),
          ),
        timeoutMs,
      );
      function cleanup(): void {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('error', onError);
        child.off('exit', onExit);
      }
      function fail(err: Error): void {
        cleanup();
        reject(err);
      }
      function onMessage(message: unknown): void {
        cleanup();
        const parsed = ExtractionReply.safeParse(message);
        if (parsed.success) resolve(parsed.data);
        else reject(new Error('the extraction process sent a malformed reply'));
      }
      function onError(err: Error): void {
        fail(new Error(`the extraction process failed: ${err.message}`));
      }
      function onExit(code: number | null, signal: NodeJS.Signals | null): void {
        fail(
          /heap out of memory/.test(slot.stderr)
            ? new ExtractionError(
                `The document is too large when expanded: extracting it needs more than ${maxHeapMb} MB of memory.`,
              )
            : new Error(
                `the extraction process exited (${signal ?? `code ${code}`}) before replying: ${slot.stderr.trim().slice(-300)}`,
              ),
        );
      }
      child.on('message', onMessage);
      child.on('error', onError);
      child.on('exit', onExit);
      child.send(request);
    });
  }
}
