import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { at } from '../checked.js';

/** Where a LineBatcher hands its blocks: pino's SonicBoom destination has this shape. */
export interface BlockSink {
  write(block: string): unknown;
  flushSync(): void;
}

/**
 * Gathers log lines into blocks of at least `minLength` characters (or whatever came within
 * `flushMs`) and hands each block to the sink in one write. The access log writes a line per
 * request; a write each (a thread-pool round trip) cost more CPU than the line. SonicBoom's
 * own `minLength` appends each line to its pending string and measures that string's byte
 * length on every write, which copies the growing block once per line; here a block is one
 * join. On process exit what is pending is written synchronously to `fd`, after the sink's own
 * pending lines (a SIGKILL loses at most the last `flushMs` of lines).
 */
export class LineBatcher implements DestinationStream {
  // One exit listener for all of them (a process may build several loggers, tests many).
  static readonly #live = new Set<LineBatcher>();

  #parts: string[] = [];
  #length = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: BlockSink,
    private readonly opts: { minLength: number; flushMs: number; fd?: number },
  ) {
    const live = LineBatcher.#live;
    if (live.size === 0) process.once('exit', () => live.forEach((b) => b.#exitFlush()));
    live.add(this);
  }

  write(line: string): void {
    this.#parts.push(line);
    this.#length += line.length;
    if (this.#length >= this.opts.minLength) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.opts.flushMs).unref();
  }

  /** Hands what is pending to the sink now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#parts.length === 0) return;
    const block = this.#parts.length === 1 ? at(this.#parts, 0) : this.#parts.join('');
    this.#parts = [];
    this.#length = 0;
    this.sink.write(block);
  }

  /** Writes everything, the sink's pending blocks first, before returning. */
  flushSync(): void {
    this.flush();
    this.sink.flushSync();
  }

  #exitFlush(): void {
    const block = this.#parts.join('');
    this.#parts = [];
    this.#length = 0;
    try {
      this.sink.flushSync();
    } catch {
      // Already ended or never opened: its lines are gone either way; ours still go out.
    }
    if (block) writeSync(this.opts.fd ?? 1, block);
  }
}
